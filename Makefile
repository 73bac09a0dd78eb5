# Two entry points: `make demo` (set up, run the baselines and the random tiny DIFFA on the bundled sample data, print
# the leaderboard) and `make test` (set up, lint, type-check, run the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The torch requirement (any version in >=2.4,<3); may carry pip options, e.g. an index URL for a CUDA build.
TORCH ?= torch==2.13.0
# OpenAI's own Whisper normalizer, used only by a test that checks ours against it (no dependencies needed).
WHISPER_REFERENCE ?= openai-whisper==20250625

.PHONY: setup demo test lint clean

setup: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps "$(WHISPER_REFERENCE)"
	touch $@

demo: setup
	$(BIN)/diffa-eval run --models chance,oracle,diffa-tiny --tasks mmau_test_mini,librispeech --split sample --max-new-tokens 8

lint: setup
	$(BIN)/ruff check diffa_eval tasks tests scripts
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
