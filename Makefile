# Two commands matter: `make run` and `make test`. Both create .venv when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

KERNELS := $(VENV)/.kernels

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The search's compiled kernels, into numba's on-disk cache (matcher/fast/__main__.py):
# about half a minute, once, rather than inside a first solve.
$(KERNELS): $(STAMP) matcher/fast/kernels.py
	$(BIN)/python -m matcher.fast
	touch $(KERNELS)

# The demo service: migrate the database (CAREMATCH_DATABASE_URL, default a SQLite file
# here), load the urban market, print a broker key, an agency key and curl commands,
# then serve on 127.0.0.1:8000 until Ctrl-C.
run: $(KERNELS)
	$(BIN)/carematch demo

test: $(KERNELS)
	$(BIN)/ruff check matcher api tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check matcher api tests benchmarks
	$(BIN)/ruff format --check matcher api tests benchmarks

bench: $(KERNELS)
	$(BIN)/python benchmarks/engine/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
