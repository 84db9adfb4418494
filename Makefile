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
	@CONCISE_BIN=$(abspath $(BUILD))/tools/concise CONCISE_EMULATED_CUDA_PLUGIN_DIR=$(abspath $(BUILD))/tests/cuda_on_cpu \
	  .venv/bin/python -m pytest -q -rs tests/python

install: configure
	@cmake --build $(BUILD) -j $(JOBS) --target concise_with_plugins
	@cmake --install $(BUILD) --prefix $(PREFIX)
	@echo "installed $(PREFIX)/bin/concise (data in $(PREFIX)/share/concise)"

bench: setup build
	@$(BUILD)/bench/bench_solvers --solvers ws --concepts 1000,10000,50000,200000 --dims 512,768 --rows 128
	@.venv/bin/python bench/bench_vs_sklearn.py --concise $(BUILD)/tools/concise
	@.venv/bin/python bench/bench_vs_spams.py --concise $(BUILD)/tools/concise

clean:
	rm -rf $(BUILD) $(BUILD).configure.log concise-demo

# Hardening: the C++ tests under AddressSanitizer and UndefinedBehaviorSanitizer, and
# the file readers' libFuzzer harnesses (fuzz/), each run for FUZZ_SECONDS.
SANITIZE_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZERS = fuzz_npy fuzz_embeddings_h5 fuzz_dictionary fuzz_codes fuzz_safetensors
SANITIZER_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: sanitize fuzz

sanitize: setup
	@cmake -S . -B $(SANITIZE_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONCISE_SANITIZE=ON \
	  -DCONCISE_CUDA=OFF -DCONCISE_TORCH=OFF -DCONCISE_BUILD_BENCH=OFF $(CMAKE_FLAGS) > $(SANITIZE_BUILD).configure.log 2>&1 \
	  || (cat $(SANITIZE_BUILD).configure.log; exit 1)
	@cmake --build $(SANITIZE_BUILD) -j $(JOBS)
	@cd $(SANITIZE_BUILD) && $(SANITIZER_ENV) ctest --output-on-failure -j $(JOBS)

fuzz: setup
	@cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
	  -DCMAKE_CXX_COMPILER=clang++ -DCONCISE_FUZZ=ON -DCONCISE_CUDA=OFF -DCONCISE_TORCH=OFF \
	  -DCONCISE_BUILD_TESTS=OFF -DCONCISE_BUILD_BENCH=OFF $(CMAKE_FLAGS) > $(FUZZ_BUILD).configure.log 2>&1 \
	  || (cat $(FUZZ_BUILD).configure.log; exit 1)
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target concise_fuzzers
	@for f in $(FUZZERS); do \
	  echo "fuzz: $$f for $(FUZZ_SECONDS) s"; \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$f $(FUZZ_BUILD)/crashes; \
	  $(SANITIZER_ENV) $(FUZZ_BUILD)/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=20 \
	    -print_final_stats=1 -artifact_prefix=$(abspath $(FUZZ_BUILD))/crashes/$$f- \
	    $(FUZZ_BUILD)/corpus/$$f fuzz/corpus/$$f 2> $(FUZZ_BUILD)/$$f.log \
	  || { tail -60 $(FUZZ_BUILD)/$$f.log; echo "fuzz: $$f failed; the input is in $(FUZZ_BUILD)/crashes"; exit 1; }; \
	  grep -E '^stat::number_of_executed_units' $(FUZZ_BUILD)/$$f.log || true; \
	done
