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

.PHONY: demo test test-all bench bench-data bench-dev bench-lossy bench-holdout bench-exemplar bench-filters bench-resized bench-opencv debian-packages clean

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

# How the figures fall with lossy storage (session 29): the development benchmark's test split stored as JPEG 2000 at
# 2:1, 3:1, 5:1 and 10:1 (about 7 min; report in bench/report-lossy/report.html).
LOSSY_VARIANTS = j2k-lossy:2,j2k-lossy:3,j2k-lossy:5,j2k-lossy
bench-lossy: $(VENV)/.installed-runtime bench/dev/labels.csv
	$(VENV)/bin/radtrust bench bench/dev --out bench/report-lossy --variants $(LOSSY_VARIANTS) --jobs 2

# Methods nothing was tuned on (simulation/holdout.py and the learned in-painter), measured with the shipped fusion.
# The methods are named, not `--methods holdout`, so that the benchmark the README's figures come from is rebuilt
# the same when a held-out method is added (the exemplar fill of session 16 has its own set, bench-exemplar).
HOLDOUT_METHODS = ct-inpaint-learned,xr-inpaint-learned,ho-inpaint-biharmonic,ho-copy-move-affine,ho-healing-brush,ho-contrast-region,ho-noise-region
bench-holdout: $(VENV)/.installed-dev
	$(VENV)/bin/radtrust simulate dataset --authentic $(BENCH_DATA)/ct $(BENCH_DATA)/cr $(BENCH_DATA)/cxr \
	  --out bench/holdout --methods $(HOLDOUT_METHODS) --per-image 3 --max-2d 40 --split-by series --seed 7
	$(VENV)/bin/radtrust bench bench/holdout --out bench/report-holdout --leave-one-method-out --jobs 2

# Exemplar-based in-painting (content-aware fill's kind), held out, on 100 pictures, the CR and the CT slabs.
bench-exemplar: $(VENV)/.installed-runtime
	$(VENV)/bin/radtrust simulate dataset --authentic $(BENCH_DATA)/ct $(BENCH_DATA)/cr $(BENCH_DATA)/cxr \
	  --out bench/exemplar --methods ho-inpaint-exemplar --per-image 1 --max-2d 100 --seed 616
	$(VENV)/bin/radtrust bench bench/exemplar --out bench/report-exemplar --jobs 2

# Plain filters and additions over a region (simulation/holdout_filters.py, session 27), held out: a sharpening, a
# median, an offset and a smooth lesion added over the pixels' own noise.
FILTER_METHODS = ho-sharpen-region,ho-median-region,ho-offset-region,ho-lesion-add
bench-filters: $(VENV)/.installed-runtime
	$(VENV)/bin/radtrust simulate dataset --authentic $(BENCH_DATA)/ct $(BENCH_DATA)/cr $(BENCH_DATA)/cxr \
	  --out bench/filters --methods $(FILTER_METHODS) --per-image 3 --max-2d 40 --split-by series --seed 27
	$(VENV)/bin/radtrust bench bench/filters --out bench/report-filters --jobs 2

# Pictures reduced in size before the edit (what public PNG collections of radiographs are: resampled, so no JPEG
# lattice is left to read), every pixel method that applies to a picture, development and held-out, measured with the
# shipped fusion (session 28). Named, not `--methods pixels,holdout`, so that it is rebuilt the same when one is added.
RESIZED_METHODS = xr-inpaint-learned,xr-inject-nodule,xr-inject-consolidation,xr-remove-lesion,xr-insert-fracture,xr-remove-fracture,copy-move,splice,resample-region,retouch,ho-inpaint-biharmonic,ho-copy-move-affine,ho-healing-brush,ho-contrast-region,ho-noise-region,ho-inpaint-exemplar,ho-sharpen-region,ho-median-region,ho-offset-region,ho-lesion-add
bench-resized: $(VENV)/.installed-dev
	$(VENV)/bin/radtrust simulate dataset --authentic $(BENCH_DATA)/cxr --out bench/resized --methods $(RESIZED_METHODS) \
	  --per-image 3 --max-2d 100 --max-side 512 --split-by series --seed 28
	$(VENV)/bin/radtrust bench bench/resized --out bench/report-resized --jobs 2

# Edits made with OpenCV (session 31): Telea and Navier-Stokes in-painting, Poisson cloning and splicing of the held-out
# benchmark's authentic items (scripts/opencv_edits_bench.py), measured with the shipped fusion. Installs the `probe`
# extra (opencv-python-headless), which nothing else needs.
bench-opencv: $(VENV)/.installed-runtime bench/holdout/labels.csv
	$(PIP) install -q -e '.[probe]'
	rm -rf bench/opencv
	$(PY) scripts/opencv_edits_bench.py bench/holdout bench/opencv --seed 31
	$(VENV)/bin/radtrust bench bench/opencv --out bench/report-opencv --jobs 2

bench/holdout/labels.csv:
	$(MAKE) bench-holdout

clean:
	rm -rf $(VENV) demo-out .pytest_cache
