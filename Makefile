# apsim developer entry points. `make demo` and `make test` work on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench soak clean

setup: $(STAMP)

# Re-install only when the package metadata changes; the install is editable,
# so source edits need no re-install.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,plot]'
	@touch $(STAMP)

demo: setup
	$(BIN)/apsim demo

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/run.py

soak: setup
	HYPOTHESIS_PROFILE=soak $(BIN)/python -m pytest tests/property

clean:
	rm -rf $(VENV) build *.egg-info
