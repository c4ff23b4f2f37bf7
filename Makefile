# qsel: two commands for a newcomer — `make demo` and `make test`.
# `make check` is the fast tier for the edit-test loop: every test not marked slow (pytest -m "not slow").
# Both create .venv (python3 -m venv) and install qsel editable; a stamp file makes
# the second run fast. `make test` also builds the OpenQAOA environment (Python 3.10).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.qsel-installed
OQ_VENV  := .venv-openqaoa
OQ_STAMP := $(OQ_VENV)/.qsel-installed
# OpenQAOA 0.2.6 needs Python 3.10: take the first python3.10 that really runs.
PY310 ?= $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10; do \
            if "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; then echo "$$p"; break; fi; done)
TORCH_STAMP := $(VENV)/.qsel-torch
# PyTorch is optional: install the CPU wheel only where one lies on disk (never a multi-GB CUDA build).
TORCH_WHEEL ?= $(firstword $(wildcard $(PIP_FIND_LINKS)/torch-2.13.0*cp311*.whl /opt/wheels/torch-2.13.0*cp311*.whl))
DEMO_OUT ?= out/demo
PYTEST_ARGS ?=

.PHONY: install demo check test openqaoa-env bench clean fuzz

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

openqaoa-env: $(OQ_STAMP)

$(OQ_STAMP): requirements-openqaoa.txt
	@if [ -z "$(PY310)" ]; then echo "make: no working python3.10 found; install it or run 'make PY310=/path/to/python3.10 openqaoa-env'" >&2; exit 2; fi
	$(PY310) -m venv $(OQ_VENV)
	$(OQ_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(OQ_VENV)/bin/python -m pip install --quiet -r requirements-openqaoa.txt
	touch $@

demo: $(STAMP)
	@mkdir -p $(DEMO_OUT)
	$(BIN)/qsel init --sizes 64,128,10 --seed 0 -o $(DEMO_OUT)/random.npz
	$(BIN)/qsel init --sizes 64,64,10 --seed 0 -o $(DEMO_OUT)/untrained.npz
	$(BIN)/qsel train $(DEMO_OUT)/untrained.npz --data digits -o $(DEMO_OUT)/trained.npz
	$(BIN)/qsel init --sizes 64,12,10 --seed 1 -o $(DEMO_OUT)/small-random.npz
	$(BIN)/qsel train $(DEMO_OUT)/small-random.npz --data digits -o $(DEMO_OUT)/small.npz
	@echo; echo "== 1/3 random MLP (strong lottery ticket, fit objective), D-Wave path on the local Pegasus stand-in"
	$(BIN)/qsel select $(DEMO_OUT)/random.npz --data digits --keep 0.5 --sweep 0.25 -t dwave -s local-pegasus \
	    -o $(DEMO_OUT)/random-pegasus
	@echo; echo "== 2/3 trained MLP (reconstruct objective), D-Wave path on the local Pegasus stand-in"
	$(BIN)/qsel select $(DEMO_OUT)/trained.npz --data digits --keep 0.25 --sweep 0.5 -t dwave -s local-pegasus \
	    -o $(DEMO_OUT)/trained-pegasus
	@echo; echo "== 3/3 a 12-unit trained layer on a simulated QAOA circuit (XY mixer keeps exactly 3 units)"
	$(BIN)/qsel select $(DEMO_OUT)/small.npz --data digits --keep 0.25 -t qiskit-qaoa -s 'qaoa{p=2}' \
	    -o $(DEMO_OUT)/small-qaoa
	@echo; echo "plots: $(DEMO_OUT)/*/accuracy_vs_keep.png, couplings.png, energies.png; tables: $(DEMO_OUT)/*/summary.json"

$(TORCH_STAMP): $(STAMP)
	@if [ -n "$(TORCH_WHEEL)" ]; then \
	    echo "installing the optional PyTorch CPU wheel $(TORCH_WHEEL)"; \
	    $(BIN)/python -m pip install --quiet "$(TORCH_WHEEL)"; \
	else echo "note: no local PyTorch 2.13.0 CPU wheel; the PyTorch model tests will be reported as skipped"; fi
	touch $@

test: $(STAMP) $(TORCH_STAMP) $(OQ_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# the fast tier (no OpenQAOA environment needed: its tests are slow); `make test` is the full suite CI runs
check: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

# Long random runs of the hostile-input corpus (tests/test_fuzz_*.py) under the Hypothesis "fuzz" profile;
# failures land in .hypothesis/ and are replayed first next time. Prints the per-reader tally.
fuzz: $(STAMP)
	$(BIN)/python bench/fuzz_report.py --profile fuzz --no-faults

bench: $(STAMP)
	$(BIN)/python bench/ir_scale.py

clean:
	rm -rf $(VENV) $(OQ_VENV) out .pytest_cache .hypothesis
