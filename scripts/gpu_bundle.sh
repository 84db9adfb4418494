#!/usr/bin/env bash
# Builds the GPU checks here (CUDA for sm_90, no LibTorch) and packs what a bare GPU
# machine needs to run them into .gpu-bundle/ (git-ignored; carry it): the binaries, the
# CUDA backend plugin (lib/concise/, where the binaries look: <exe dir>/../lib/concise),
# the shared libraries they use that are neither glibc's nor CUDA's (the GPU machine has
# its own CUDA 13), the public test data, and run.sh. On the GPU machine, from the checkout:
#     bash .gpu-bundle/run.sh "$OUT"
# runs, each step under its own timeout and all within 9 minutes: the parity tests
# (a skip there fails), the floor and the working set at c = 10k, d = 512 with a
# batch-size sweep (FP32 and TF32 passes), SpLiCE's ADMM on the same sizes, a small lambda, c = 50k and 200k,
# and compute-sanitizer memcheck on a filtered subset; then writes summary.md (device,
# sizes, rows/s, ratios, parity verdicts) beside the logs in the folder given.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=.gpu-bundle
build=build-gpu
data=data

launchers=()
if command -v ccache > /dev/null; then
  launchers=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCONCISE_CUDA=ON -DCONCISE_TORCH=OFF \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DCONCISE_TEST_DATA_DIR="$bundle/data" "${launchers[@]}" > "$build.configure.log"
cmake --build "$build" --target concise_cuda_tests bench_solvers concise concise_cuda_plugin

rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/lib/concise" "$bundle/data"
cp "$build/tests/concise_cuda_tests" "$build/bench/bench_solvers" "$build/tools/concise" "$bundle/bin/"
cp "$build/lib/concise/libconcise_cuda.so" "$bundle/lib/concise/"
# Shared libraries outside glibc and CUDA, found through ldd.
for binary in "$bundle"/bin/* "$bundle"/lib/concise/*.so; do
  ldd "$binary" | awk '/=> \// {print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|ld-linux*|libgcc_s.so*) ;;
    libcuda.so*|libcudart.so*|libcublas*|libcusparse.so*|libcusolver.so*|libnvJitLink.so*) ;;
    *) cp -L "$lib" "$bundle/lib/" ;;
  esac
done
if [ -d "$data" ]; then
  cp -r "$data/clip-vit-b32" "$bundle/data/"
fi
cp bench/splice_admm_baseline.py scripts/gpu_summary.py "$bundle/"
# The carried tree has a size limit: binaries and libraries travel compressed.
tar -C "$bundle" -cJf "$bundle/payload.tar.xz" bin lib
rm -rf "$bundle/bin" "$bundle/lib"
cat > "$bundle/run.sh" <<'RUN'
#!/usr/bin/env bash
# On the GPU machine, from the checkout: bash .gpu-bundle/run.sh OUTPUT_FOLDER
set -uo pipefail
out=${1:?output folder}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
status=0
step() {  # step NAME SECONDS COMMAND...: one step under its own timeout; a failure is loud and remembered
  local name=$1 seconds=$2
  shift 2
  echo "=== $name (at most ${seconds}s)"
  local started=$SECONDS
  timeout --kill-after=10 "$seconds" "$@"
  local rc=$?
  echo "=== $name: exit $rc after $((SECONDS - started))s" | tee -a "$out/steps.log"
  if [ $rc -ne 0 ]; then echo "!!! $name FAILED (exit $rc)" | tee -a "$out/steps.log"; status=1; fi
  return 0
}
unpacked=/tmp/concise-gpu
if [ -f "$here/payload.tar.xz" ]; then
  mkdir -p "$unpacked" && tar -C "$unpacked" -xJf "$here/payload.tar.xz"
else
  # No carried binaries: build them here (sm_90), which takes minutes of the budget.
  echo "=== no payload: building on this machine"
  step build 300 bash -c "cmake -S '$here/..' -B /tmp/concise-build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCONCISE_CUDA=ON \
    -DCONCISE_TORCH=OFF -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null && cmake --build /tmp/concise-build --target \
    concise_cuda_tests bench_solvers concise concise_cuda_plugin && mkdir -p '$unpacked/bin' '$unpacked/lib/concise' && \
    cp /tmp/concise-build/tests/concise_cuda_tests /tmp/concise-build/bench/bench_solvers /tmp/concise-build/tools/concise '$unpacked/bin/' && \
    cp /tmp/concise-build/lib/concise/libconcise_cuda.so '$unpacked/lib/concise/'"
fi
# CUDA's libraries from the toolkit, or from the nvidia-* wheels beside PyTorch.
nvidia_libs=$(python3 -c 'import glob, os, nvidia; root = list(nvidia.__path__)[0]; print(":".join(sorted({os.path.dirname(p) for p in glob.glob(os.path.join(root, "*", "lib", "*.so*"))})))' 2>/dev/null || true)
export LD_LIBRARY_PATH="$unpacked/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:$nvidia_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
bin=$unpacked/bin
bench=(--device cuda --benchmark_min_time=0.3 --benchmark_out_format=json)

step device 15 bash -c "nvidia-smi > '$out/device.txt' 2>&1; rc=\$?; '$bin/concise' backends 2>&1 | tee '$out/backends.log'; exit \$rc"
# 1. Parity: with CONCISE_REQUIRE_GPU a missing GPU fails instead of skipping; any skip left fails too.
step parity 100 bash -c "cd '$here/..' && CONCISE_REQUIRE_GPU=1 '$bin/concise_cuda_tests' 2>&1 | tee '$out/parity.log'; \
  rc=\${PIPESTATUS[0]}; if grep -q '\[  SKIPPED \]' '$out/parity.log'; then echo '!!! parity tests SKIPPED'; exit 3; fi; exit \$rc"
# 2. The floor and the working set (FP32 and TF32 passes) at c = 10k, d = 512, lambda = 0.25, over batch sizes.
step ws_10k 120 "$bin/bench_solvers" "${bench[@]}" --solvers ws,ws-tf32 --concepts 10000 --dims 512 --rows 65536 --l1 0.25 \
  --gpu-batch 4096,16384,65536 --benchmark_out="$out/ws_10k.json"
# 3. SpLiCE's Cholesky ADMM on the same sizes (torch; its own CUDA libraries, not the bundle's).
step splice_admm 55 env -u LD_LIBRARY_PATH PYTHONUNBUFFERED=1 python3 "$here/splice_admm_baseline.py" --device cuda \
  --concepts 10000 --dim 512 --rows 4096 --l1 0.25 > "$out/splice_admm.log" 2>&1
cat "$out/splice_admm.log"
# 4. A small lambda (many atoms per row), then target sparsity (at most 10 atoms per row, the lambda grid's walk).
step ws_small_lambda 50 "$bin/bench_solvers" "${bench[@]}" --solvers ws,ws-tf32 --concepts 10000 --dims 512 --rows 16384 \
  --l1 0.02 --benchmark_out="$out/ws_small_lambda.json"
step ws_l0 35 "$bin/bench_solvers" "${bench[@]}" --solvers ws --concepts 10000 --dims 512 --rows 16384 \
  --l0 10 --benchmark_out="$out/ws_l0.json"
# 5. Large dictionaries: no c x c matrix, so c = 200k fits.
step ws_large 90 "$bin/bench_solvers" "${bench[@]}" --solvers ws,ws-tf32 --concepts 50000,200000 --dims 768 --rows 16384 \
  --l1 0.25 --benchmark_out="$out/ws_large.json"
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
# 6. compute-sanitizer memcheck on the working set's own tests (memcheck runs on the H100, not on the H200).
step memcheck 65 bash -c "cd '$here/..' && CONCISE_REQUIRE_GPU=1 '$sanitizer' --tool memcheck --error-exitcode 9 \
  '$bin/concise_cuda_tests' --gtest_filter='*TiedCorrelations*:*DevicePointers*:EverySolver/GpuSolverParity.SmallBatches*/ws:EverySolver/GpuSolverParity.SmallBatches*/ws_tf32:*TargetSparsity*' \
  > '$out/memcheck.log' 2>&1; rc=\$?; tail -5 '$out/memcheck.log'; exit \$rc"
env -u LD_LIBRARY_PATH python3 "$here/gpu_summary.py" "$out" > "$out/summary.md" 2>&1
cat "$out/summary.md"
exit $status
RUN
chmod +x "$bundle/run.sh"
du -sh "$bundle"
