#!/usr/bin/env bash
# The base image every segflow image starts from, built from Debian packages: no registry pull.
# mmdebstrap writes a minimal Debian root file system (Python 3.11, a venv, CA certificates) as a
# tarball; `podman import` turns it into the image localhost/segflow-base:bookworm. Skipped when
# that image exists (set REBUILD=1 to make it again). Needs root (or a podman/mmdebstrap set up
# for rootless use) and the Debian mirror.
set -euo pipefail
source "$(dirname "$0")/podman.sh"
BASE=${BASE:-localhost/segflow-base:bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
if [ -z "${REBUILD:-}" ] && $PODMAN image exists "$BASE"; then
  echo "base: $BASE is there"
  exit 0
fi
command -v mmdebstrap >/dev/null || { echo "base: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 2; }
tar=$(mktemp --suffix=.tar)
trap 'rm -f "$tar"' EXIT
echo "base: mmdebstrap bookworm (a few minutes)"
mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
  --aptopt='Apt::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  bookworm "$tar" "$MIRROR"
$PODMAN import --change 'CMD ["/bin/bash"]' "$tar" "$BASE" >/dev/null
echo "base: $BASE ($($PODMAN image inspect --format '{{.Size}}' "$BASE") bytes)"
