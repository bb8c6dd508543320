# The README's two commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-8)
APT_PACKAGES := prusa-slicer cura-engine openscad chromium

.PHONY: demo test bench model venv system-deps clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[train,app,dev]"
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(BIN)/c3po demo

# Debian packages the tests use for real: slicers, OpenSCAD, Chromium (installed when missing).
system-deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@if [ -f .ci/cura-defs.sh ]; then bash .ci/cura-defs.sh; fi

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

# the benchmarks also scan OpenCASCADE's sample meshes (bench/suite.py MORE_MESHES)
bench: APT_PACKAGES += occt-misc
bench: $(STAMP) system-deps
	$(BIN)/python bench/parse.py
	$(BIN)/python bench/render.py
	$(BIN)/python bench/slice.py
	$(BIN)/python bench/dataset.py
	$(BIN)/python bench/detect.py
	$(BIN)/python bench/accuracy.py
	$(BIN)/python bench/families.py
	$(BIN)/python bench/plates.py
	$(BIN)/python bench/scaffolding.py
	$(BIN)/python bench/camera.py
	$(BIN)/python bench/plugin.py

# Rebuild the shipped model: datasets -> three trained CNNs -> models/default -> novelty
# gate and streaming policy calibrated on separate prints (about two hours from nothing)
model: $(STAMP) system-deps
	$(BIN)/python models/make_default.py
	$(BIN)/python models/calibrate.py --rescan

clean:
	rm -rf $(VENV) .venv-octoprint build *.egg-info .pytest_cache
