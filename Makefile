# Muse. `make run` opens Muse on the bundled corpus; `make test` runs every test.
# Both install libtorch (the PyTorch wheel) into a cache venv outside the clone the first
# time, and reuse it after. Point LIBTORCH at an existing libtorch to skip the venv.

SHELL := /bin/bash
.DEFAULT_GOAL := run

TORCH_VERSION := 2.13.0
MUSE_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/muse
VENV := $(MUSE_CACHE)/torch-$(TORCH_VERSION)
PYTHON ?= python3
CARGO ?= cargo

ifdef LIBTORCH
  TORCH := 
  export LIBTORCH
else
  TORCH := $(VENV)/.installed
  export LIBTORCH_USE_PYTORCH := 1
  export PATH := $(VENV)/bin:$(PATH)
endif
# Tests that compare with Python's `tokenizers` and the PyTorch benchmarks use this.
export MUSE_PYTHON ?= $(VENV)/bin/python

.PHONY: run test lint bench build clean-venv

$(VENV)/.installed:
	@echo "installing libtorch $(TORCH_VERSION) into $(VENV) (once; about 5 GB)"
	@rm -rf "$(VENV)"
	$(PYTHON) -m venv "$(VENV)"
	"$(VENV)/bin/pip" install --quiet --disable-pip-version-check torch==$(TORCH_VERSION) tokenizers numpy
	@touch "$@"

build: $(TORCH)
	$(CARGO) build --release

run: build
	./target/release/muse train --max-steps 400
	./target/release/muse generate -n 3 --max-tokens 300

test: $(TORCH)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(CARGO) test --release

lint: $(TORCH)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets -- -D warnings

bench: build
	./benches/run

clean-venv:
	rm -rf "$(VENV)"
