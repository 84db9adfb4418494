# The two commands: `make demo` runs the main job on a built-in default,
# `make test` builds and runs every test. Both install what is missing first.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: setup configure build demo test bench clean

setup:
	@bash scripts/setup.sh

configure: setup
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) > $(BUILD).configure.log 2>&1 || (cat $(BUILD).configure.log; exit 1)
	@grep -E '^-- concise' $(BUILD).configure.log || true

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@$(BUILD)/tools/concise demo --data ../shared/data

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@echo "pip install . (the Python module)"
	@.venv/bin/python -m pip install -q .
	@CONCISE_BIN=$(abspath $(BUILD))/tools/concise .venv/bin/python -m pytest -q tests/python

bench: build
	@$(BUILD)/bench/bench_solvers --solvers ws --concepts 1000,10000,50000,200000 --dims 512,768 --rows 128
	@.venv/bin/python bench/bench_vs_sklearn.py --concise $(BUILD)/tools/concise
	@.venv/bin/python bench/bench_vs_spams.py --concise $(BUILD)/tools/concise

clean:
	rm -rf $(BUILD) $(BUILD).configure.log concise-demo
