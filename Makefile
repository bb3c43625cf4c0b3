# Quick start: `make run` (Airflow with the sample plan) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PORT ?= 8080
export TRANSITION_CONFIG ?= $(CURDIR)/plan/config.yaml

.PHONY: install install-dev run validate test test-fast lint docs bench sample-plan messages clean fuzz image-lock

# install: what make run needs (requirements.txt); install-dev: that and the tools of make test,
# lint, docs and fuzz (requirements-dev.txt).
install: $(STAMP)

install-dev: $(DEV_STAMP)

# uv installs (pinned; pip puts it in the venv): the same versions as pip's resolver (checked
# 2026-12-06: the same 229 packages), in about 16 s instead of 64 from a fresh clone. It writes
# the bytecode as pip does (--compile-bytecode): without it, where PYTHONDONTWRITEBYTECODE is set
# (CI), every Airflow process compiles Airflow again; an Airflow start took twice the CPU
# (bench/startup.py, BENCHMARKS.md).
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY)
$(STAMP): requirements.txt pyproject.toml Makefile
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is needed (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) -r requirements.txt
	$(UV) --no-deps -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(UV) -r requirements-dev.txt
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

# Two work units at once (pytest-xdist, --dist loadfile): a unit is a file (its tests stay on one
# worker, so a server the file shares, a module fixture, starts once) or a shared Airflow's tests
# from several files (tests/shared_airflow.py: one server per flavour for the attacks, the fuzzing,
# the operations, the gates and the dry run; tests/conftest.py's scheduler); the units that start
# Airflow go first, the longest first (tests/conftest.py). Three at once was quicker (21 against 26 minutes) but overloaded 2 cores:
# an api-server then took over 10 s to hand out a login token. A second lane of the tests that
# start no Airflow beside the two workers (niced) took 26.5 minutes once, against 21.9 without it,
# but the suite without it took 26.6 later that day: not shown to help, so not kept (2026-12-06).
# With the install's bytecode three at once passed once, 25.3 minutes of tests against 27.2 with
# two, at a load average of 8 to 9 on 2 cores: too little for the flakes it risked (2026-12-06).
# make lint's checks run as tests (tests/test_lint.py), beside the others.
test: install-dev $(CHROMIUM)
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder

# The inner loop: every test that starts no Airflow (the end-to-end and security tests are marked
# e2e), two files at once: about 2 minutes on 2 cores (713 tests, 2026-12-07).
test-fast: install-dev
	$(PY) -m pytest -m "not e2e" -n 2 --dist loadfile

# A longer fuzz run than `make test` does: the workbook reader (FUZZ_EXAMPLES examples per property), then
# the plugin's REST API on a real Airflow (API_FUZZ_EXAMPLES per operation and identity; schemathesis).
FUZZ_EXAMPLES ?= 2000
API_FUZZ_EXAMPLES ?= 1000
fuzz: install-dev
	TRANSITION_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/workbook/test_reader_fuzz.py -p no:cacheprovider
	TRANSITION_API_FUZZ_EXAMPLES=$(API_FUZZ_EXAMPLES) $(PY) -m pytest tests/security/test_api_fuzz.py -p no:cacheprovider

# The image's additions (requirements-image.txt) locked with hashes in requirements-image.lock, at
# the versions make test installs (this venv's); what Airflow itself depends on (attrs, dateutil,
# tzdata, ...) is left to the apache/airflow image and its constraints (the Dockerfile runs pip check).
IMAGE_LEFT_TO_AIRFLOW := attrs python-dateutil six typing-extensions tzdata
image-lock: install-dev
	$(PY) -m pip freeze --exclude-editable > $(VENV)/tested-versions.txt
	$(PY) -m piptools compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
		--no-emit-find-links -c $(VENV)/tested-versions.txt \
		$(foreach p,$(IMAGE_LEFT_TO_AIRFLOW),--unsafe-package $(p)) \
		-o requirements-image.lock requirements-image.txt

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
