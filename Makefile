# apsim developer entry points. `make demo` and `make test` work on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench soak clean

EXT_STAMP := $(VENV)/.ext-built
# The request path Cython compiles (setup.py) and the C types declared beside it.
# Every compiled module has a .pxd beside it (the list itself is in apsim/_engine.py).
PXD := $(wildcard apsim/engine/*.pxd)
COMPILED_SRC := $(PXD) $(PXD:.pxd=.py)

setup: $(STAMP) $(EXT_STAMP)

# Re-install only when the package metadata changes; the install is editable,
# so source edits need no re-install.
$(STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	APSIM_PURE_BUILD=1 $(BIN)/python -m pip install --quiet -e '.[test,plot,build,sweep,mount,isolation]'
	@touch $(STAMP)

# Re-compile the request path in place when its source changed (without a C
# compiler this does nothing and apsim runs as pure Python; see apsim/_engine.py).
$(EXT_STAMP): $(STAMP) setup.py $(COMPILED_SRC)
	find apsim -name '*.c' -delete
	$(BIN)/python setup.py --quiet build_ext --inplace
	@touch $(EXT_STAMP)

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
	find apsim -name '*.so' -delete -o -name '*.c' -delete
