# mmdet-ohem: every command a user or CI needs.
VENV ?= .venv
PY := $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV)/bin/python,$(VENV)/bin/python)

.PHONY: install test test-slow lint demo bench clean

install:  ## the pinned stack in .venv (or the active virtualenv)
	bash tools/install.sh

test:  ## THE test command: the default suite (CPU, a few minutes)
	$(PY) -m pytest -q -m 'not slow' tests

test-slow:  ## the long end-to-end runs as well
	$(PY) -m pytest -q tests

lint:
	$(PY) -m flake8 mmdet_ohem tools tests configs

clean:
	rm -rf build *.egg-info .pytest_cache work_dirs
