#!/usr/bin/env bash
# Build a segflow image: containers/build.sh edge|full [TAG]
#
# Everything the image installs is gathered here first, with this machine's pip (its index, its
# certificates) into a build context, then installed in the image with --no-index: the build asks
# no registry from inside the container, and the image holds exactly requirements/KIND.txt plus
# segflow's own wheel (one OpenCV: the headless build). Needs the dev venv (`make setup`) for the
# wheel and the ONNX export of the shipped model.
set -euo pipefail
kind=${1:?usage: containers/build.sh edge|full [TAG]}
case "$kind" in edge|full) ;; *) echo "build: unknown image '$kind' (edge or full)" >&2; exit 2;; esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/containers/podman.sh"
PY=${PY:-$ROOT/.venv/bin/python}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml")
tag=${2:-localhost/segflow-$kind:$version}

bash "$ROOT/containers/base.sh"
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/wheels" "$ctx/src" "$ctx/models" "$ctx/workflows" "$ctx/assets/samples"

# segflow itself, from a copy of the package (no build/ or egg-info left in the checkout)
cp -r "$ROOT/segflow" "$ROOT/pyproject.toml" "$ROOT/README.md" "$ctx/src/"
find "$ctx/src" -name __pycache__ -prune -exec rm -rf {} +
"$PY" -m pip wheel -q --no-deps --no-build-isolation --no-index -w "$ctx/wheels" "$ctx/src"
rm -rf "$ctx/src"

echo "build: gathering requirements/$kind.txt"
# pip wheel: binary wheels are downloaded as they are; the few sdists (antlr4 for SAM2's hydra) become wheels here
"$PY" -m pip wheel -q --no-deps -w "$ctx/wheels" -r <(grep -v -E '^(#|sam2==)' "$ROOT/requirements/$kind.txt")
if grep -q '^sam2==' "$ROOT/requirements/$kind.txt"; then
  # sam2 ships only as an sdist that builds against torch: build its wheel here, against the dev venv's torch
  SAM2_BUILD_CUDA=0 "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$ctx/wheels" \
    "$(grep '^sam2==' "$ROOT/requirements/$kind.txt")"
fi

echo "build: the shipped model"
cp "$ROOT/assets/samples/conveyor.mp4" "$ROOT/assets/samples/conveyor.json" "$ctx/assets/samples/"
if [ "$kind" = edge ]; then
  "$PY" -m segflow.engine.cli export "$ROOT/assets/models/coffee-stones-seg.pt" --format onnx \
    --out "$ctx/models/coffee-stones-seg.onnx" >/dev/null
  cp "$ROOT/workflows/edge_stones.yaml" "$ctx/workflows/"
else
  mkdir -p "$ctx/assets/models"
  cp "$ROOT/assets/models/coffee-stones-seg.pt" "$ctx/assets/models/"
  cp "$ROOT/workflows/coffee_stones.yaml" "$ROOT/workflows/edge_stones.yaml" "$ctx/workflows/"
fi

echo "build: $tag"
# A RUN with a bind mount is cached by its text alone: the wheels' hash goes into it as a build
# argument, so a changed wheel (or the other image's set) never reuses a stale layer.
wheels_sha=$(cd "$ctx/wheels" && sha256sum ./*.whl | sha256sum | cut -c1-16)
$PODMAN build $RUN_FLAGS -q --build-arg "WHEELS_SHA=$wheels_sha" -f "$ROOT/containers/$kind.Containerfile" -t "$tag" "$ctx" >/dev/null
echo "build: $tag $($PODMAN image inspect --format '{{.Size}}' "$tag") bytes"
