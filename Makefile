# mmdet-ohem: every command a user or CI needs.
VENV ?= .venv
PY := $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV)/bin/python,$(VENV)/bin/python)

.PHONY: install test test-dist test-slow lint demo bench ablations device-check clean

install:  ## the pinned stack in .venv (or the active virtualenv)
	bash tools/install.sh

test:  ## THE test command: the default suite (CPU, a few minutes)
	$(PY) -m pytest -q -m 'not slow' tests

test-dist:  ## the multi-process (torchrun, gloo) tests, marked slow
	$(PY) -m pytest -q -m slow -k dist tests

test-slow:  ## the long end-to-end runs as well
	$(PY) -m pytest -q tests

demo:  ## the embedded benchmark: random vs OHEM, table + PNG (~15 min)
	@test -x $(PY) || $(MAKE) install
	PY=$(PY) bash tools/run_demo.sh

bench:  ## README's results: 3 variants x 3 seeds + speed/memory ratios
	@test -x $(PY) || $(MAKE) install
	PY=$(PY) bash tools/run_bench.sh

ablations:  ## what was tried when OHEM fell short (seed 0, 3 knobs)
	@test -x $(PY) || $(MAKE) install
	PY=$(PY) bash tools/run_ablations.sh

device-check:  ## on a GPU machine: kit install, mmcv CUDA build, GPU tests, benchmark (docs/gpu.md)
	PY=$(if $(PY_DEVICE),$(PY_DEVICE),python3) bash tools/device_check.sh

lint:  ## flake8 + isort (pip install -e .[lint] first)
	$(PY) -m flake8 mmdet_ohem tools tests configs
	$(PY) -m isort --check-only --diff mmdet_ohem tools tests

clean:
	rm -rf build *.egg-info .pytest_cache work_dirs
