# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip
SEGFLOW := $(VENV)/bin/segflow
STAMP   := $(VENV)/.segflow-installed
DEMO    ?= workflows/coffee_stones.yaml

.PHONY: setup system-deps demo test lint bench clean

setup: $(STAMP)

# torch is pinned to the release served from local disk (a looser pin may pull a
# multi-GB CUDA build); sam2 ships only as an sdist and must build against the
# installed torch, so it goes in after it, without build isolation.
$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) show sam2 >/dev/null 2>&1 || SAM2_BUILD_CUDA=0 $(PIP) install -q --no-build-isolation sam2
	$(PIP) install -q -e '.[yolo,sam,sinks,ui,track,dev]'
	@touch $@

system-deps:
	@bash scripts/system-deps.sh

demo: setup
	$(PY) -m segflow.tools.demo $(DEMO)

lint: setup
	$(VENV)/bin/ruff check segflow tests bench
	$(VENV)/bin/mypy

test: setup system-deps lint
	$(VENV)/bin/pytest -q

bench: setup
	$(PY) bench/engine_overhead.py
	$(PY) bench/micro_batching.py
	$(PY) bench/memory.py
	$(PY) bench/edge_runtime.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
