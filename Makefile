# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip
SEGFLOW := $(VENV)/bin/segflow
STAMP   := $(VENV)/.segflow-installed
LOCK    := requirements/lock.txt
OTHER_CV2 := opencv-python opencv-contrib-python opencv-contrib-python-headless
DEMO    ?= workflows/coffee_stones.yaml

.PHONY: setup lock image-locks images image-full system-deps demo test lint bench clean

setup: $(STAMP)

# requirements/lock.txt is the whole environment, exact versions (pyproject.toml states only
# ranges). torch goes first, from the lock (the pinned release is served from local disk; a looser
# pin may pull a multi-GB CUDA build), because sam2 ships only as an sdist that builds against the
# installed torch. The rest of the lock goes in with --no-deps: ultralytics and trackers declare
# the GUI build of OpenCV, and the lock holds the headless one only, so exactly one `cv2` ends up
# installed. The stamp records the lock it was built from (tests/install reads it).
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q -c $(LOCK) pip setuptools wheel
	$(PIP) install -q -c $(LOCK) torch torchvision
	SAM2_BUILD_CUDA=0 $(PIP) install -q --no-deps --no-build-isolation -r $(LOCK)
	@# a venv built before the lock may hold a second OpenCV build: remove it, then rewrite cv2
	@if $(PIP) show -q $(OTHER_CV2) >/dev/null 2>&1; then \
	  $(PIP) uninstall -q -y $(OTHER_CV2) && \
	  $(PIP) install -q --no-deps --force-reinstall -c $(LOCK) opencv-python-headless; fi
	$(PIP) install -q --no-deps --no-build-isolation -c $(LOCK) -e .
	@sha256sum $(LOCK) > $@

# Rewrite the lock from the venv (after `$(PIP) install -c $(LOCK) 'pkg>=x'` or an upgrade): its
# header comments stay, the editable segflow and any second OpenCV build stay out.
lock:
	{ grep '^#' $(LOCK); $(PIP) freeze --all --exclude-editable | grep -v -E '^(opencv-python|opencv-contrib-python|opencv-contrib-python-headless)=='; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)

# requirements/edge.txt and full.txt: the images' environments, pinned from the lock (a test checks
# they are current). Rewrite them after `make lock`.
image-locks: setup
	$(PY) scripts/image_locks.py

# The container images (docs/containers.md): a Debian base made with mmdebstrap, then podman build.
images: setup
	bash containers/build.sh edge

image-full: setup
	bash containers/build.sh full

system-deps:
	@bash scripts/system-deps.sh

demo: setup
	$(PY) -m segflow.tools.demo $(DEMO)

lint: setup
	$(VENV)/bin/ruff check segflow tests bench
	$(VENV)/bin/mypy

# PYTHONFAULTHANDLER: a crash prints every thread's stack. SEGFLOW_PYTEST_HARD_EXIT: pytest ends
# with its own exit status right after the session, so a library crashing at interpreter
# shutdown cannot turn a green run red (tests/conftest.py says why).
test: setup system-deps lint
	PYTHONFAULTHANDLER=1 SEGFLOW_PYTEST_HARD_EXIT=1 $(VENV)/bin/pytest -q

bench: setup
	$(PY) bench/engine_overhead.py
	$(PY) bench/micro_batching.py
	$(PY) bench/memory.py
	$(PY) bench/flagship.py
	$(PY) bench/compiled.py
	$(PY) bench/refiner_runtime.py
	$(PY) bench/ray_scaling.py
	$(PY) bench/validate_large.py
	$(PY) bench/edge_runtime.py
	$(PY) bench/measure_truth.py
	$(PY) bench/measure_other_shapes.py
	$(PY) bench/measure_cost.py
	$(PY) bench/crop_batching.py
	$(PY) bench/classify_crops.py
	$(PY) bench/sahi.py
	$(PY) bench/flagship_heldout.py
	$(PY) bench/serve_requests.py
	$(PY) bench/serve_soak.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
