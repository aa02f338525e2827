# `make lab` opens the notebooks; `make test` runs every test and notebook;
# `make check` runs the fast unit tests alone, for the edit-test loop.
# All three set everything up themselves on a fresh Debian/Ubuntu machine.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DATASET := data/multilabel-fashion-mnist
DEBIAN_DATA := /usr/share/datasets/fashion-mnist

.PHONY: lab test check setup system-packages data clean

lab: setup data
	$(BIN)/jupyter lab notebooks/

# Unit tests, the Binder check and the real-browser test (its screenshots and
# the measured memory are printed: -rP), then every notebook under strict nbval.
test: setup data
	$(BIN)/pytest tests -rP
	$(BIN)/pytest --nbval --nbval-current-env --nbval-cell-timeout=1800 notebooks

# Everything but the notebook runs, the real-browser test and the shipped model
# on the whole test split (pytest markers `slow` and `browser`).
check: setup
	$(BIN)/pytest tests -m "not slow and not browser"

setup: $(INSTALLED)

$(INSTALLED): requirements.txt pyproject.toml
	$(MAKE) system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# Debian's copy of Fashion-MNIST and Chromium (for the browser test), where
# apt and root are at hand; elsewhere Keras downloads the data on first use.
system-packages:
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  { [ -d $(DEBIAN_DATA) ] && [ -x /usr/bin/chromium ]; } || { \
	    apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist chromium >/dev/null; }; \
	else \
	  echo "apt-get or root not available: Fashion-MNIST will be downloaded by Keras"; \
	fi

data: setup
	@[ -d $(DATASET)/test ] || $(BIN)/python -m helpers data --out $(DATASET)

clean:
	rm -rf $(VENV) data
