# convolab: the whole set-up in two commands.
#   make demo   set up .venv with the core package only, get Debian's Fashion-MNIST, train the lecture's
#               autoencoder on it
#   make test   set up .venv with every extra, get the test data and browser, run ruff, mypy and the tests
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FASHION := /usr/share/datasets/fashion-mnist

.PHONY: core setup data browser demo test lint fuzz
core: $(VENV)/.core
setup: $(VENV)/.installed

# The core package: what `make demo` needs (no TensorFlow, no test tools).
# torch is pinned to the CPU wheel: an unpinned torch pulls a multi-GB CUDA build.
$(VENV)/.core: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .
	touch $@

# Every extra, for `make test`; .installed also tells the tests that the set-up has run (more than 5
# skips then fail the run: tests/skip_limit.py).
$(VENV)/.installed: $(VENV)/.core
	$(BIN)/pip install -q -e '.[test,keras,onnx,lab,widgets,tensorboard,notebook]'
	touch $@

# Fashion-MNIST from Debian (works offline from the distribution mirror; no dataset download).
data:
	@test -f $(FASHION)/train-images-idx3-ubyte.gz || \
	  ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist)

# Debian's Chromium for the lab's end-to-end tests (Playwright drives it; it never downloads a browser).
browser:
	@test -x /usr/bin/chromium || \
	  ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium)

demo: core data
	$(BIN)/convolab train --dataset fashion-mnist --epochs 5

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup data browser lint
	$(BIN)/pytest
	@# the whole suite runs TensorFlow with oneDNN on (tests/conftest.py); the conformance suite again with
	@# TF's plain kernel (oneDNN off, TF's default on AVX2-only CPUs): recorded outputs always compare,
	@# live cases that kernel refuses skip with their reason
	TF_ENABLE_ONEDNN_OPTS=0 $(BIN)/pytest tests/test_keras_conformance.py

# the hostile-input suite alone (tests/fuzz, see docs/fuzz.md): its CI selection also runs in `make test`;
# FUZZ=full runs all 650 cases (-m fuzz_full)
fuzz: setup data
	$(BIN)/pytest tests/fuzz $(if $(FUZZ),-m fuzz_full)
