# The course's commands. Each target is a thin wrapper over a documented Python or CLI call;
# README.md explains them. Two are all a newcomer needs:  make lab   and   make test.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Which Python: an active virtualenv or a named conda env is used as it is; otherwise the
# project's own .venv, created on first use with `python3 -m venv`.
ifneq ($(VIRTUAL_ENV),)
  PYTHON ?= $(VIRTUAL_ENV)/bin/python
else ifneq ($(filter-out base,$(CONDA_DEFAULT_ENV)),)
  PYTHON ?= $(CONDA_PREFIX)/bin/python
else
  PYTHON ?= .venv/bin/python
endif
BOOTSTRAP_PYTHON ?= python3
# One stamp per interpreter: set-up reruns only when the packaging or the C sources change.
STAMP := .stamp-install-$(shell echo "$(abspath $(PYTHON))" | cksum | cut -d' ' -f1)
INSTALL_DEPS := pyproject.toml setup.py $(wildcard course_lib/_c/*.c course_lib/_c/*.h course_lib/_c/build.py)

CHAPTERS := $(notdir $(wildcard solutions/c*))
LAB_ARGS ?=
PYTEST_ARGS ?=
LOAD_CORES ?= 1
JOBS ?= 1
SOAK ?= 20
SLIDES_ARGS ?=
CHAPTER ?=

.PHONY: help setup lab test test-load soak release grade feedback bench student-kit slides prewarm clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 10

.venv/bin/python:
	$(BOOTSTRAP_PYTHON) -m venv .venv

$(STAMP): $(INSTALL_DEPS) | $(if $(filter .venv/bin/python,$(PYTHON)),.venv/bin/python)
	$(PYTHON) -m pip install --disable-pip-version-check -q -e .
	$(PYTHON) -m jupyter labextension enable --level=sys_prefix @jupyter/nbgrader @jupyter-widgets/jupyterlab-manager >/dev/null
	for ext in formgrader validate_assignment assignment_list course_list; do \
	  $(PYTHON) -m jupyter server extension enable --sys-prefix nbgrader.server_extensions.$$ext >/dev/null 2>&1 || exit 1; done
	@rm -f .stamp-install-*
	@touch $@

setup: $(STAMP)  ## create the environment, install course_lib, build its C parts

lab: setup  ## open JupyterLab on the course (extra flags: LAB_ARGS="--no-browser --port 8899")
	$(PYTHON) -m course_lib.course.lab $(LAB_ARGS)

test: setup  ## run the whole test suite (PYTEST_ARGS="-k machine" to pick)
	$(PYTHON) -m pytest $(PYTEST_ARGS)

test-load: setup  ## the test suite while another process keeps LOAD_CORES (default 1) cores busy
	$(PYTHON) -m course_lib.testing.load --cores $(LOAD_CORES) -- $(PYTHON) -m pytest $(PYTEST_ARGS)

soak: setup  ## grade every contract answer (tests/contract.py) SOAK times (default 20), with LOAD_CORES busy
	COURSE_SOAK=$(SOAK) $(PYTHON) -m course_lib.testing.load --cores $(LOAD_CORES) -- \
	  $(PYTHON) -m pytest -m answer -q -p no:cacheprovider $(PYTEST_ARGS)

release: setup  ## regenerate notebooks/ (student versions) from solutions/
	$(PYTHON) -m course_lib.course.grading release $(CHAPTERS)

grade: setup  ## autograde everything under submitted/, JOBS at a time (default 1), and print the scores
	$(PYTHON) -m course_lib.course.grading grade --jobs $(JOBS)

student-kit: setup  ## write dist/hpc-python-student.tar.gz: the course without solutions/ or tests/
	$(PYTHON) -m course_lib.course.kit --out dist

slides: setup  ## reveal.js HTML of every chapter into slides/ (SLIDES_ARGS="--execute" to run them first)
	$(PYTHON) -m course_lib.course.slides build --out slides $(SLIDES_ARGS)

prewarm: setup  ## before a talk: run CHAPTER=<id> once, headless, so its demos start warm
	@test -n "$(CHAPTER)" || { echo "say which chapter: make prewarm CHAPTER=c02_channels"; exit 2; }
	$(PYTHON) -m course_lib.course.slides prewarm $(CHAPTER)

bench: setup  ## run benchmarks/ and print the figures
	$(PYTHON) -m benchmarks

feedback: setup  ## write HTML feedback for autograded work into feedback/
	$(PYTHON) -m course_lib.course.grading feedback

clean:  ## remove build products, caches and nbgrader's working state (keeps .venv)
	rm -rf build dist slides *.egg-info .pytest_cache .hypothesis autograded feedback gradebook.db .stamp-install-*
	find . -path ./.venv -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -print -exec rm -rf {} +
	find course_lib -name '*.so' -delete
