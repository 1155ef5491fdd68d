# Two entry points for a newcomer: `make fit` and `make test`. Both create .venv when missing.
VENV       ?= .venv
PY         := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
CONFIG     ?= configs/music.yaml
PYTEST_ARGS ?=

.PHONY: install fit data lint test test-scale clean-venv

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	# Keep a torch that is already there (e.g. a user's CUDA build); otherwise take the CPU build.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > $(VENV)/torch-constraint.txt
	$(PY) -m pip install -q -c $(VENV)/torch-constraint.txt -e ".[dev]"
	touch $@

install: $(VENV)/.installed

fit: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/r4t fit -c $(CONFIG)

data: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/r4t data -c $(CONFIG)

# ruff (pyflakes, pycodestyle errors, bugbear, import order) and mypy over src/r4t, as configured in pyproject.toml.
lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

test: lint
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not gpu and not scale" $(PYTEST_ARGS)

# Production-scale checks (a 1M-item catalog builds and searches: ~2 min on 2 cores).
test-scale: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m scale $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
