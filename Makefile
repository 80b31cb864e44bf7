# mmdet-ohem: every command a user or CI needs.
VENV ?= .venv
PY := $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV)/bin/python,$(VENV)/bin/python)

.PHONY: install test test-dist test-slow lint demo bench bench-warm comparisons sweep ablations device-check clean

install:  ## the pinned stack in .venv (or the active virtualenv)
	bash tools/install.sh

test:  ## THE test command: the default suite (CPU, ~11 min on 2 cores)
	$(PY) -m pytest -q -m 'not slow' tests

test-dist:  ## the multi-process (torchrun, gloo) tests, marked slow
	$(PY) -m pytest -q -m slow -k dist tests

test-slow:  ## the long end-to-end runs as well
	$(PY) -m pytest -q tests

demo:  ## the embedded set: random vs OHEM, seed 0, table + PNG in work_dirs/demo, and where it lands in the committed seeds' spread
	@test -x $(PY) || $(MAKE) install
	$(PY) tools/analysis/run_bench.py --preset demo --work-dir work_dirs/demo --out work_dirs/demo --against docs/results

bench:  ## README's scratch rows: every set (BCCD_ROOT, RACCOON_ROOT, CARDS_ROOT) x 5 seeds, random vs ours -> docs/results, README
	@test -x $(PY) || $(MAKE) install
	$(PY) tools/analysis/run_bench.py --preset bench --out docs/results
	$(PY) tools/analysis/render_results.py

bench-warm:  ## README's warm-start rows: the same from a random-sampling checkpoint
	@test -x $(PY) || $(MAKE) install
	$(PY) tools/analysis/run_bench.py --preset bench-warm --out docs/results
	$(PY) tools/analysis/render_results.py

comparisons:  ## mmdet's OHEMSampler and mining by loss alone on the real sets x 3 seeds, scratch (the comparison rows of docs/results.md)
	@test -x $(PY) || $(MAKE) install
	$(PY) tools/analysis/run_bench.py --preset comparisons --keep-other-commits --out docs/results
	$(PY) tools/analysis/render_results.py

sweep:  ## the random share {0.25, 0.5, 0.75} on the real sets x 3 seeds, scratch, against 0.5 -> docs/results.md
	@test -x $(PY) || $(MAKE) install
	$(PY) tools/analysis/run_bench.py --preset sweep --keep-other-commits --out docs/results
	$(PY) tools/analysis/render_results.py

ablations:  ## the mining variants on the embedded set, seed 0 -> work_dirs/ablations
	@test -x $(PY) || $(MAKE) install
	$(PY) tools/analysis/run_bench.py --preset ablations --work-dir work_dirs/ablations --out work_dirs/ablations

device-check:  ## on a GPU machine: kit install, mmcv CUDA build, GPU tests, benchmark (docs/gpu.md)
	PY=$(if $(PY_DEVICE),$(PY_DEVICE),python3) bash tools/device_check.sh

lint:  ## flake8 + isort (pip install -e .[lint] first)
	$(PY) -m flake8 mmdet_ohem tools tests configs
	$(PY) -m isort --check-only --diff mmdet_ohem tools tests

clean:
	rm -rf build *.egg-info .pytest_cache work_dirs
