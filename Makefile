# `make lab` opens the notebooks; `make test` runs ruff, every test and every
# notebook; `make check` runs ruff and the fast unit tests, for the edit-test loop;
# `make site` builds the web pages from the executed notebooks.
# All four set everything up themselves on a fresh Debian/Ubuntu machine.

# The newest supported Python that runs (a pyenv shim of an inactive version
# does not), unless PYTHON=... is given: TensorFlow 2.21 has no wheel for 3.14
# and numpy 2.4 none for 3.10. Keep this list, pyproject.toml's requires-python
# and the README in step (tests/test_setup.py checks).
SUPPORTED_PYTHONS := 3.13 3.12 3.11
ifndef PYTHON
PYTHON := $(or $(firstword $(foreach v,$(SUPPORTED_PYTHONS),$(shell python$(v) -c '' 2>/dev/null && echo python$(v)))),python3)
endif
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
TEST_INSTALLED := $(VENV)/.installed-test
SITE_INSTALLED := $(VENV)/.installed-site
NODE_INSTALLED := node_modules/.installed
SITE_SOURCES := build/site-src
SITE := build/site
DATASET := data/multilabel-fashion-mnist
DEBIAN_DATA := /usr/share/datasets/fashion-mnist
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)
CAN_APT := $(if $(IS_ROOT),$(shell command -v apt-get >/dev/null && echo yes))
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq

# JupyterLab on loopback only, with a token in the URL it prints; JupyterLab
# refuses to run as root (Docker, CI shells) without --allow-root.
LAB_PORT ?= 8888
LAB_ARGS ?=
LAB_FLAGS = --ip=127.0.0.1 --port=$(LAB_PORT) $(if $(IS_ROOT),--allow-root) $(LAB_ARGS)

.PHONY: lab test check lint site setup setup-test setup-site python-check system-packages browser-packages node-packages data clean

lab: setup data
	$(BIN)/jupyter lab notebooks/ $(LAB_FLAGS)

# Unit tests, the Binder checks and the real-browser tests, the site's among them
# (their screenshots and the measured memory are printed: -rP), then every
# notebook under strict nbval.
test: setup-test data lint site
	$(BIN)/pytest tests -rP
	$(BIN)/pytest --nbval --nbval-current-env --nbval-cell-timeout=1800 notebooks

# Everything but the notebook runs, the real-browser test and the shipped model
# on the whole test split (pytest markers `slow` and `browser`).
check: setup-test lint
	$(BIN)/pytest tests -m "not slow and not browser"

# Layout and lint of helpers, tests, benchmarks and the notebooks' code cells
# (pyproject.toml's [tool.ruff]; .pre-commit-config.yaml runs the same).
lint: setup-test
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

# The site (book/, Jupyter Book 1) from the committed, executed notebooks, never
# run again, offline, into $(SITE)/_build/html; any Sphinx warning (a broken
# link or anchor among them) fails it, and --keep-going reports them all first.
site: $(SITE_INSTALLED) $(NODE_INSTALLED)
	rm -rf $(SITE_SOURCES) $(SITE)
	$(BIN)/python book/stage.py $(SITE_SOURCES)
	$(BIN)/jupyter-book build $(SITE_SOURCES) --path-output $(SITE) --warningiserror --nitpick --keep-going --quiet

setup: $(INSTALLED)
setup-test: $(TEST_INSTALLED)
setup-site: $(SITE_INSTALLED) $(NODE_INSTALLED)

python-check:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] not in [tuple(map(int, v.split("."))) for v in "$(SUPPORTED_PYTHONS)".split()])' 2>/dev/null || { \
	  echo "error: this project needs one of Python $(SUPPORTED_PYTHONS); '$(PYTHON)' is $$($(PYTHON) --version 2>&1 | head -1)." >&2; \
	  echo "Install one, or name it: make PYTHON=/path/to/python3.12 $(MAKECMDGOALS)" >&2; exit 1; }

# What a reader needs to run the notebooks (requirements.txt, as on Binder) ...
$(INSTALLED): requirements.txt pyproject.toml
	$(MAKE) python-check system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# ... and what only the tests need on top (requirements-test.txt, and Chromium).
$(TEST_INSTALLED): requirements-test.txt $(INSTALLED)
	$(MAKE) browser-packages
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

# ... and what only the site needs (requirements-site.txt: Jupyter Book 1).
$(SITE_INSTALLED): requirements-site.txt $(INSTALLED)
	$(BIN)/pip install --quiet -r requirements-site.txt
	touch $@

# The npm packages of package-lock.json: MathJax, copied into the site, and
# axe-core, which the site's browser test runs.
$(NODE_INSTALLED): package.json package-lock.json
	$(MAKE) node-packages
	npm ci --no-audit --no-fund
	touch $@

# Debian's copy of Fashion-MNIST where apt and root are at hand; elsewhere
# Keras downloads the data on first use.
system-packages:
ifeq ($(CAN_APT),yes)
	@[ -d $(DEBIAN_DATA) ] || { apt-get update -qq && $(APT_INSTALL) dataset-fashion-mnist >/dev/null; }
else
	@echo "apt-get or root not available: Fashion-MNIST will be downloaded by Keras"
endif

# Debian's Chromium, for the browser test only.
browser-packages:
ifeq ($(CAN_APT),yes)
	@[ -x /usr/bin/chromium ] || { apt-get update -qq && $(APT_INSTALL) chromium >/dev/null; }
else
	@[ -x /usr/bin/chromium ] || echo "no /usr/bin/chromium: the browser test needs Debian's chromium package"
endif

# Node.js and npm, for the site and its test: Debian's where apt and root are at hand.
node-packages:
ifeq ($(CAN_APT),yes)
	@command -v npm >/dev/null || { apt-get update -qq && $(APT_INSTALL) nodejs npm >/dev/null; }
else
	@command -v npm >/dev/null || { echo "error: npm not found: the site needs Node.js and npm (MathJax, axe-core)" >&2; exit 1; }
endif

data: setup
	@[ -d $(DATASET)/test ] || $(BIN)/python -m helpers data --out $(DATASET)

clean:
	rm -rf $(VENV) data node_modules $(SITE_SOURCES) $(SITE)
