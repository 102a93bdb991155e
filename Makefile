# Everything runs inside .venv, created on first use from a plain Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo-output

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The demo refuses to write into a directory that holds another election, so
# `make demo` starts from an empty one each time.
demo: $(STAMP)
	rm -rf $(DEMO_OUT)
	$(BIN)/paperchain demo --out $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/ruff check e2e tally paper paperchain tests benchmarks
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check e2e tally paper paperchain tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_OUT) build *.egg-info .pytest_cache .hypothesis
