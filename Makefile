# Each target sets up .venv itself: `make test` and `make demo` work on a machine with only Python 3.11.
PYTHON ?= python3.11
DEVICE ?= cpu
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS := $(DEVICE),test,coco,onnx,vdl
STAMP  := $(VENV)/.installed-$(DEVICE)

.PHONY: setup lint test demo bench bench-ppdet clean

setup: $(STAMP)

# Re-installs when pyproject.toml changes or DEVICE switches (the stamp names the device).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	@rm -f $(VENV)/.installed-*
	@touch $@

# Style and the layer contracts (pyproject's [tool.ruff] and [tool.importlinter]): fast, so they run first.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Tests run in TEST_WORKERS processes (pytest-xdist), each module whole in one of them so that its shared
# fixtures are built once; tests/conftest.py splits the cores between them and puts the longest modules first
# (kept first by --no-loadscope-reorder, which would otherwise order modules by their number of tests).
# TEST_WORKERS=0: one process. Bytecode is written even where PYTHONDONTWRITEBYTECODE is set (some CI images
# set it): the suite starts dozens of slimdet processes, and each would compile slimdet again.
TEST_WORKERS ?= 2
test: lint
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

# The whole workflow on built-in data (at most 25 min on 2 CPU cores); a re-run reuses finished stages.
demo: $(STAMP)
	$(BIN)/slimdet demo --out demo_output

# Every benchmark but the PaddleDetection comparison (make bench-ppdet). Slow: some train models.
bench: $(STAMP)
	@for script in bench/*.py; do \
		[ "$$script" = bench/vs_ppdet.py ] && continue; \
		echo "== $$script"; $(BIN)/python $$script || exit 1; \
	done

# PaddleDetection 2.6 cannot share slimdet's venv (its opencv/numpy pins clash with paddleslim's),
# so the side-by-side comparison runs it from a venv of its own. 320 px, 5 timed steps: about 4 minutes.
bench-ppdet: $(STAMP)
	@test -x .venv-ppdet/bin/python || $(PYTHON) -m venv .venv-ppdet
	.venv-ppdet/bin/pip install -q paddlepaddle==2.6.2 paddledet==2.6.0 "numpy<1.24" "scikit-learn<1.6" pyzmq
	.venv-ppdet/bin/pip install -q --no-deps paddleslim==2.6.0
	$(BIN)/python bench/vs_ppdet.py --ppdet-python .venv-ppdet/bin/python --size 320 --steps 5

clean:
	rm -rf $(VENV) .venv-ppdet demo_output .pytest_cache
