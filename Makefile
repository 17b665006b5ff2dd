# customer-ml: `make run` builds the demo, `make test` is what CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FEAST_VENV := .venv-feast
FEAST_STAMP := $(FEAST_VENV)/.installed
export CUSTOMER_ML_HOME := $(CURDIR)
export DBT_PROFILES_DIR := $(CURDIR)/profiles
export DBT_PROJECT_DIR := $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export MLFLOW_DISABLE_TELEMETRY := true
SEED ?= 42
DBT := $(BIN)/dbt

.PHONY: lock install run test test-e2e reliability season browser outside ui lint format pytest dbt-ci bench bench-curve bench-feast-env clean clean-warehouse

# Every package from the lock, each file checked against its recorded sha256; then the project
# itself (local source, no dependencies to resolve), and `pip check` that nothing is missing.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $(STAMP)

install: $(STAMP)

## lock: regenerate requirements.lock (pins and hashes) after changing a pin in pyproject.toml
lock:
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check pip-tools==7.5.1
	.lock-venv/bin/pip-compile --quiet --generate-hashes --allow-unsafe --extra dev \
		--no-emit-index-url --no-emit-find-links --no-header -o requirements.lock pyproject.toml

data/demo/orders.parquet: $(STAMP)
	$(BIN)/customer-ml generate --scale demo --seed $(SEED) --out data/demo

data/tiny/orders.parquet: $(STAMP)
	$(BIN)/customer-ml generate --scale tiny --seed $(SEED) --out data/tiny

define load_and_build
	$(BIN)/customer-ml load --target $(1) --orders data/$(2)/orders.parquet \
		--customers data/$(2)/customers.parquet --events data/$(2)/engagement_events.parquet \
		--business-events data/$(2)/business_events.parquet
	$(DBT) build --target $(1) --selector ci
endef

## run: install, generate and load the demo data, dbt build on warehouse/dev.duckdb, promote each
## model's run as the demo's people (signed with config/demo_keys) and build the scoring
## selection again, so that the champions serve
run: data/demo/orders.parquet
	$(call load_and_build,dev,demo)
	$(BIN)/customer-ml demo-champions --target dev
	$(DBT) build --target dev --selector scoring
	@$(BIN)/customer-ml where --target dev
	@$(BIN)/customer-ml figures --target dev

## test: pytest, dbt build on the ci target over tiny data, sqlfluff, ruff and dbt-score.
## pytest runs one test file per core (pytest-xdist): every test builds in its own throwaway
## warehouse and project snapshot, and a file's module fixtures stay in one worker
test: pytest dbt-ci lint

pytest: $(STAMP)
	$(BIN)/pytest -q -m "not e2e and not reliability and not browser and not outside" --durations=25 \
		--numprocesses auto --dist loadfile

## reliability: the long reliability cases (16 readers of the analyst copy during a build, an
## idle notebook connection; kill -9 at KILL_POINTS (default 20) moments of builds, each followed
## by a build); the fast ones are part of `make test`. About 30 minutes on 2 cores
reliability: $(STAMP)
	$(BIN)/pytest -q -m reliability

## season: a simulated year of operation at tiny scale from an empty warehouse of its own
## (season-out/): weekly loads and the scheduled builds on the project's clock, promotions by the
## demo approvers, a drift, a concept shift, a stale feed, a bad load, a business event and a
## cohort backfill; exits 0 only when every expected reaction was observed and the end-of-year
## checks pass. Report: season-out/report/report.html (`make test` runs a five-week season)
season: $(STAMP)
	$(BIN)/customer-ml season --weeks 52 --scale tiny --out season-out

## test-e2e: the long end-to-end stories (reproduce every model months later, the promotion
## lifecycle, the retraining scenarios); about 25 minutes on 2 cores
test-e2e: $(STAMP)
	$(BIN)/pytest -q -m e2e

## browser: the MLflow UI, the dbt docs site and a validation report in headless Chromium
## (Debian's package, installed here when missing); screenshots in target/browser/. CI runs it
## after `make test` (about 4 minutes with the install)
browser: $(STAMP)
	@command -v chromium >/dev/null || { apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } || \
		{ echo "could not install Debian's chromium (needs root: apt-get install chromium)"; exit 1; }
	$(BIN)/pytest -q -m browser -p no:randomly

## outside: every registered champion loaded by `models:/customer-ml-<model>@champion` in a fresh
## virtual environment holding only the MLflow model's requirements.txt (installed from PyPI), in
## a folder outside the checkout; it predicts what it predicts here. CI runs it after `make browser`
outside: $(STAMP)
	$(BIN)/pytest -q -m outside -p no:randomly

dbt-ci: data/tiny/orders.parquet
	$(call load_and_build,ci,tiny)
	@$(BIN)/customer-ml where --target ci

lint: $(STAMP)
	$(BIN)/python tests/python/helpers/architecture.py src/customer_ml macros
	$(BIN)/ruff check src tests python_models models
	$(BIN)/ruff format --check src tests python_models models
	$(BIN)/sqlfluff lint models macros tests/dbt
	$(BIN)/dbt-score lint --run-dbt-parse --show failing-items

format: $(STAMP)
	$(BIN)/ruff format src tests python_models models
	$(BIN)/ruff check --fix src tests python_models models

## ui: the MLflow UI for the dev warehouse on http://127.0.0.1:5000
ui: $(STAMP)
	$(BIN)/mlflow ui --host 127.0.0.1 --port 5000 \
		--backend-store-uri sqlite:///$(CURDIR)/warehouse/dev.mlflow.db

## clean: generated data, dbt target and logs; the warehouse (the records: lineage, MLflow store,
## artifacts) stays. Deleting it is a separate, explicit step: make clean-warehouse CONFIRM=yes
clean:
	rm -rf data target logs
	@echo "kept warehouse/ (lineage records, MLflow store, model artifacts); to delete them: make clean-warehouse CONFIRM=yes"

clean-warehouse:
	@test "$(CONFIRM)" = yes || { echo "refused: this deletes every lineage record, MLflow run and model artifact in warehouse/; run: make clean-warehouse CONFIRM=yes"; exit 1; }
	rm -rf warehouse

## bench: generate, load, full dbt build, the daily build (--selector scoring) after one new
## day, and point-in-time features three ways (dbt, hand-written DuckDB, pandas) at SCALE
## (default tiny) in its own warehouse under bench/out/SCALE; results in
## bench/out/SCALE/results.md (+ .png). The committed bench/results.md is a copy of a
## SCALE=bench run.
SCALE ?= tiny
bench: $(STAMP) $(FEAST_STAMP)
	$(BIN)/customer-ml bench --scale $(SCALE) --out bench/out/$(SCALE) \
		--feast-python $(FEAST_VENV)/bin/python

## bench-curve: the bench at 200k, 1M and 3M customers (same per-customer density; backfills
## and Feast left out), each scale's data and warehouse deleted once measured, and the scaling
## curve in bench/out/curve/curve.md (+ .png). About 2 h on 2 cores; keep 70 GB of disk free
bench-curve: $(STAMP)
	$(BIN)/customer-ml bench --curve bench-200k,bench,bench-3m --out bench/out/curve \
		--skip-backfills

## bench-feast-env: Feast (DuckDB offline store) in its own environment, pinned in
## bench/feast-requirements.txt, so the project's pins stay as they are
bench-feast-env: $(FEAST_STAMP)
$(FEAST_STAMP): bench/feast-requirements.txt
	$(PYTHON) -m venv $(FEAST_VENV)
	$(FEAST_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps \
		-r bench/feast-requirements.txt
	$(FEAST_VENV)/bin/pip check
	touch $(FEAST_STAMP)
