# Two entry points for a newcomer: `make demo` and `make test`. Each builds .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FETCH_DELTA_JARS ?= yes
# Spark's workers must run the venv's python (pyarrow lives there); everything runs in UTC.
export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))
export SPARK_LOCAL_IP := 127.0.0.1
export TZ := UTC

.PHONY: demo test test-fast lint golden venv s3-jars clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,airflow]"
	$(PY) -m pip check
	# Delta's jars for Spark, from Maven Central, once: runs after this work offline.
	# FETCH_DELTA_JARS=no skips it (then Spark writes Parquet and delta-rs commits the Delta tables).
	if [ "$(FETCH_DELTA_JARS)" != "no" ]; then $(PY) -m jobs.warehouse.delta_jars; fi
	touch $(STAMP)

# Hadoop's S3 connector for a warehouse in a bucket (about 700 MB, so not part of every install).
s3-jars: $(STAMP)
	$(PY) -m jobs.warehouse.delta_jars --s3

demo: $(STAMP)
	$(VENV)/bin/fairshot demo

# One process: two pytest-xdist workers measured no faster here (1,356 s against 1,333 s on 2 cores,
# 2026-12-07): the Spark tests keep both cores busy, so a second worker only halves each one's speed.
test: lint
	$(PY) -m pytest -q --durations=15

# no Spark: the solvers, the model, metrics, config, the DAG file, the simulation's world and feed;
# these are single-threaded Python, so two workers pay (22 s against 32 s on 2 cores)
test-fast: $(STAMP)
	$(PY) -m pytest -q -n 2 -m "not spark" --durations=5

# after a change meant to alter the plans: rewrite the tiny world's table digests (tests/golden/)
golden: $(STAMP)
	$(PY) -m pytest -q tests/test_golden_world.py --update-golden

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf warehouse reports spark-warehouse metastore_db .pytest_cache .airflow wh-airflow
