# The two commands: `make demo` runs the main job on the data that ships with
# concise, `make test` builds and runs every test. Both install what is missing
# first. `make install PREFIX=DIR` installs the concise command and its data.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
PREFIX ?= /usr/local

.PHONY: setup setup-build configure build demo test install bench clean

# Debian packages only: what building the C++ needs.
setup-build:
	@bash scripts/setup.sh --build-only

# Debian packages and the Python test environment (.venv).
setup:
	@bash scripts/setup.sh

configure: setup-build
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) > $(BUILD).configure.log 2>&1 || (cat $(BUILD).configure.log; exit 1)
	@grep -E '^-- concise' $(BUILD).configure.log || true

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# Builds only the concise command (and the libraries it links), not the tests.
demo: configure
	@cmake --build $(BUILD) -j $(JOBS) --target concise
	@$(BUILD)/tools/concise demo

test: setup build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@echo "pip install . (the Python module)"
	@.venv/bin/python -m pip install -q .
	@CONCISE_BIN=$(abspath $(BUILD))/tools/concise .venv/bin/python -m pytest -q -rs tests/python

install: configure
	@cmake --build $(BUILD) -j $(JOBS) --target concise
	@cmake --install $(BUILD) --prefix $(PREFIX)
	@echo "installed $(PREFIX)/bin/concise (data in $(PREFIX)/share/concise)"

bench: setup build
	@$(BUILD)/bench/bench_solvers --solvers ws --concepts 1000,10000 --dims 512,768
	@.venv/bin/python bench/bench_vs_sklearn.py --concise $(BUILD)/tools/concise

clean:
	rm -rf $(BUILD) $(BUILD).configure.log concise-demo
