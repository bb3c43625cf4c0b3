# Quick start: `make run` (Airflow with the sample plan) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PORT ?= 8080
export TRANSITION_CONFIG ?= $(CURDIR)/plan/config.yaml

.PHONY: install install-dev run validate test test-fast lint docs bench sample-plan messages clean fuzz

# install: what make run needs (requirements.txt); install-dev: that and the tools of make test,
# lint, docs and fuzz (requirements-dev.txt).
install: $(STAMP)

install-dev: $(DEV_STAMP)

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is needed (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(DEV_STAMP)

validate: install
	$(VENV)/bin/transition validate $(TRANSITION_CONFIG)

# make run ARGS=--sqlite: Airflow's database in SQLite (.airflow/airflow.db) instead of the
# embedded PostgreSQL (.airflow/postgres/).
ARGS ?=
run: validate
	$(VENV)/bin/transition standalone --port $(PORT) $(ARGS)

# The browser tests drive Debian's chromium (headless); installed here so a fresh machine has it.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# Style and types: ruff (lint and format, line length 100) and mypy on the package (pyproject.toml).
lint: install-dev
	$(VENV)/bin/ruff check plugins tests bench dags plan
	$(VENV)/bin/ruff format --check plugins tests bench dags plan
	$(VENV)/bin/mypy

# The docs site (docs/, mkdocs.yml) into site/, strictly: a broken link or anchor, or a page left
# out of the navigation, fails. make test builds it too (tests/docs/).
docs: install-dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# Two test files at once (pytest-xdist): each file's tests stay on one worker, so a server a file
# shares (a module fixture) starts once; the files that start Airflow go first, the longest first
# (tests/conftest.py). Three at once was quicker (21 against 26 minutes) but overloaded 2 cores:
# an api-server then took over 10 s to hand out a login token.
test: install-dev $(CHROMIUM) lint
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder

# The inner loop: every test that starts no Airflow (the end-to-end and security tests are marked
# e2e), two files at once: about 2.5 minutes on 2 cores (562 tests, 2026-12-06).
test-fast: install-dev
	$(PY) -m pytest -m "not e2e" -n 2 --dist loadfile

# A longer fuzz run than `make test` does: the workbook reader (FUZZ_EXAMPLES examples per property), then
# the plugin's REST API on a real Airflow (API_FUZZ_EXAMPLES per operation and identity; schemathesis).
FUZZ_EXAMPLES ?= 2000
API_FUZZ_EXAMPLES ?= 1000
fuzz: install-dev
	TRANSITION_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/workbook/test_reader_fuzz.py -p no:cacheprovider
	TRANSITION_API_FUZZ_EXAMPLES=$(API_FUZZ_EXAMPLES) $(PY) -m pytest tests/security/test_api_fuzz.py -p no:cacheprovider

bench: install-dev
	$(PY) bench/parse.py --write BENCHMARKS.md
	$(PY) bench/read.py --write BENCHMARKS.md
	$(PY) bench/dryrun.py --write BENCHMARKS.md

sample-plan: install
	$(PY) plan/build_sample_plan.py

# The gettext catalogues (plugins/transition/locale): extract the messages of the code and the
# templates, update every language's .po, compile the .mo files. Then translate what is new.
messages: install
	$(PY) -m transition.cli.catalogues

clean:
	rm -rf $(VENV) .airflow plan/.compiled tests/e2e/artifacts site
