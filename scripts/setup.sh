#!/usr/bin/env bash
# Installs what concise needs to build and test: Debian packages for the C++
# engine, a Python virtual environment (.venv) for the tests and benchmarks.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(
  cmake ninja-build g++ pkg-config
  libhdf5-dev          # embeddings, dictionaries and codes on disk
  libopenblas-openmp-dev  # CPU GEMMs and the LAPACK Cholesky of ADMM, sharing the OpenMP thread pool
  libcli11-dev         # the concise command line
  nlohmann-json3-dev   # dictionary metadata and safetensors headers
  libicu-dev           # CLIP tokenizer: Unicode letter/number classes, lowercase, NFC/NFKC
  zlib1g-dev           # CLIP tokenizer: the gzipped BPE merges
  libturbojpeg0-dev libpng-dev  # image decoding for CLIP preprocessing
  libtorch-dev         # the CLIP encoders (LibTorch, Debian's CPU build)
  libgtest-dev libgmock-dev  # unit tests
  libbenchmark-dev     # micro-benchmarks
  libboost-context-dev # fibers for the CUDA emulator the GPU parity tests run on without a GPU
  clang libclang-rt-dev libomp-dev  # make fuzz: libFuzzer harnesses (clang, its runtimes, its OpenMP)
  python3-venv python3-dev  # the Python module (built by pip install .)
  python3-torch        # torch tensors in the Python module's tests (Debian's CPU build)
  chromium             # headless browser: the tests render the HTML summary report to a screenshot
)

missing=()
for p in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --build-only: the Debian packages are all `make demo` and `make install` need.
if [ "${1:-}" = "--build-only" ]; then
  exit 0
fi

# The venv sees Debian's site-packages, for python3-torch; everything else comes
# from requirements-dev.txt.
if [ -x .venv/bin/python ] && ! .venv/bin/python -c "import torch" 2>/dev/null; then
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
stamp=.venv/.requirements-stamp
if [ ! -f "$stamp" ] || ! cmp -s requirements-dev.txt "$stamp"; then
  echo "setup: installing Python packages from requirements-dev.txt"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  cp requirements-dev.txt "$stamp"
fi
