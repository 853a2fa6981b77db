# radtrust: `make demo` shows the product end to end; `make test` installs what the tests need and runs them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Debian packages the tests talk to: the real counterparts of what radtrust implements (chromium: the HTML report
# is checked in a real browser).
DEBIAN_PACKAGES := dcmtk libgdcm-tools dicom3tools softhsm2 openssl orthanc orthanc-python chromium
# The learned in-painter's tests need PyTorch: the CPU build pinned here (a plain range would pull a CUDA build).
TORCH_VERSION := 2.13.0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-all bench bench-data bench-dev bench-holdout debian-packages clean

$(VENV)/.installed-runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[all]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed-runtime
	$(PIP) install -q 'torch==$(TORCH_VERSION)'
	$(PIP) install -q -e '.[dev,torch]'
	touch $@

debian-packages:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: $(VENV)/.installed-runtime
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/demo.sh

test: debian-packages $(VENV)/.installed-dev
	$(PY) -m pytest -n 2 -q

# Everything, slow benchmarks and trainings included.
test-all: debian-packages $(VENV)/.installed-dev
	$(PY) -m pytest -q -m ''

# The development benchmark (issue 5): authentic images from ../shared/data plus simulated tampering, in bench/dev.
BENCH_DATA ?= ../shared/data
bench-data: $(VENV)/.installed-runtime
	$(VENV)/bin/radtrust simulate dataset --authentic $(BENCH_DATA)/ct $(BENCH_DATA)/cr $(BENCH_DATA)/cxr \
	  --out bench/dev --methods all --per-image 4 --max-2d 40 --split-by series --seed 2026

bench/dev/labels.csv:
	$(MAKE) bench-data

# Every detector measured on the development benchmark (report in bench/report-dev/report.html).
bench-dev: $(VENV)/.installed-runtime bench/dev/labels.csv
	$(VENV)/bin/radtrust bench bench/dev --out bench/report-dev --leave-one-method-out --jobs 2

# Methods nothing was tuned on (simulation/holdout.py and the learned in-painter), measured with the shipped fusion.
bench-holdout: $(VENV)/.installed-dev
	$(VENV)/bin/radtrust simulate dataset --authentic $(BENCH_DATA)/ct $(BENCH_DATA)/cr $(BENCH_DATA)/cxr \
	  --out bench/holdout --methods holdout --per-image 3 --max-2d 40 --split-by series --seed 7
	$(VENV)/bin/radtrust bench bench/holdout --out bench/report-holdout --leave-one-method-out --jobs 2

clean:
	rm -rf $(VENV) demo-out .pytest_cache
