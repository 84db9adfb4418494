#!/usr/bin/env bash
# Builds the GPU checks here (CUDA for sm_90, no LibTorch) and packs what a bare GPU
# machine needs to run them into .gpu-bundle/ (git-ignored; carry it): the binaries, the
# CUDA backend plugin (lib/concise/, where the binaries look: <exe dir>/../lib/concise),
# the shared libraries they use that are neither glibc's nor CUDA's (the GPU machine has
# its own CUDA 13), REV (the commit it was built from) and run.sh. The tests read the
# checkout's tracked data/ (built with CONCISE_TEST_DATA_DIR=data, taken from the
# directory they run in: run.sh runs them from the checkout's root).
#
#     scripts/gpu_bundle.sh [--prebuilt BUILD_DIR]
#
# --prebuilt packs the binaries of an existing build (laid out as build-gpu) instead of
# building: a dry run of run.sh on a machine with no GPU, say (--prebuilt build).
# On the GPU machine, from the checkout:
#     bash .gpu-bundle/run.sh "$OUT"
# runs, each step under its own timeout and all by a deadline 8 minutes after the start:
# the parity tests (a skip there fails), the floor and the working set at c = 10k,
# d = 512 with a batch-size sweep (FP32 and TF32 passes), SpLiCE's ADMM on the same
# sizes (a fixed number of iterations), a small lambda, target sparsity, c = 50k and
# 200k, and compute-sanitizer memcheck on a filtered subset. Into OUT it writes only
# summary.md (key numbers first), steps.log, parity.log and logs.tgz (every other log),
# the summary and the archive rewritten after each step, so a run cut short leaves them.
set -euo pipefail
prebuilt=""
while [ $# -gt 0 ]; do
  case $1 in
    --prebuilt) prebuilt=$(cd "${2:?--prebuilt needs a build directory}" && pwd); shift 2 ;;
    *) echo "usage: $0 [--prebuilt BUILD_DIR]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
bundle=.gpu-bundle
build="build-gpu"
# What travels to the device machine (the working tree and the carried bundle) has a
# limit of 64 MiB; this script refuses to leave a bundle that takes it past 60.
limit_mib=60

if [ -z "$prebuilt" ]; then
  launchers=()
  if command -v ccache > /dev/null; then
    launchers=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCONCISE_CUDA=ON -DCONCISE_TORCH=OFF \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DCONCISE_TEST_DATA_DIR=data "${launchers[@]}" > "$build.configure.log"
  cmake --build "$build" --target concise_cuda_tests bench_solvers concise concise_cuda_plugin
  from=$build
else
  from=$prebuilt
fi
if ! git ls-files --error-unmatch data/clip-vit-b32/lvis_concepts.npy > /dev/null 2>&1; then
  echo "warning: data/clip-vit-b32 is not tracked, so it does not travel: the real-data tests will skip (a failure there)" >&2
fi

rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/lib/concise"
cp "$from/tests/concise_cuda_tests" "$from/bench/bench_solvers" "$from/tools/concise" "$bundle/bin/"
cp "$from/lib/concise/libconcise_cuda.so" "$bundle/lib/concise/"
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
cp bench/splice_admm_baseline.py scripts/gpu_summary.py "$bundle/"
# Which code this is: run.sh prints it at the top of summary.md.
echo "payload: $(git describe --always --dirty) ($(git log -1 --format=%cd --date=iso-strict)), packed" \
  "$(date -u +%Y-%m-%dT%H:%M:%SZ) from ${prebuilt:-$build}" > "$bundle/REV"
# The carried tree has a size limit: binaries and libraries travel compressed.
XZ_OPT=${XZ_OPT:--6 -T0} tar -C "$bundle" -cJf "$bundle/payload.tar.xz" bin lib
rm -rf "${bundle:?}/bin" "${bundle:?}/lib"
cat > "$bundle/run.sh" <<'RUN'
#!/usr/bin/env bash
# On the GPU machine: bash .gpu-bundle/run.sh OUTPUT_FOLDER
# Every step runs under its own timeout, capped by a deadline 480 s after the start
# (CONCISE_DEADLINE overrides), which leaves the device call's 600 s room for the
# unpacking and the last summary. Raw logs go to /tmp/concise-logs; OUTPUT_FOLDER
# holds only summary.md, steps.log, parity.log and logs.tgz (at most 8 files come back
# from the device machine), and summary.md and logs.tgz are rewritten after every step.
set -uo pipefail
out=${1:?output folder}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
mkdir -p "$out" && out=$(cd "$out" && pwd)
logs=/tmp/concise-logs
rm -rf "$logs" && mkdir -p "$logs"
: > "$out/steps.log"
: > "$out/parity.log"
deadline=$((SECONDS + ${CONCISE_DEADLINE:-480}))
status=0
cd "$root" || exit 2  # the tests read data/ from here (CONCISE_TEST_DATA_DIR=data)
{
  if [ -f "$here/REV" ]; then cat "$here/REV"; else echo "payload: unknown (no REV in the bundle)"; fi
  echo "checkout: $(git describe --always --dirty 2> /dev/null || echo 'unknown (no git here)'), run started" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$logs/REV"

summarize() {  # summary.md and logs.tgz in OUT, each written under a temporary name, then moved
  if ! python3 "$here/gpu_summary.py" "$logs" "$out" > "$out/summary.md.tmp" 2> "$logs/summary.err"; then
    {
      echo "## GPU run of the bundle"; echo; sed 's/$/  /' "$logs/REV"; echo
      echo "gpu_summary.py failed: $(tail -n 1 "$logs/summary.err")"; echo; echo "Steps:"; echo
      sed 's/^=== /- /' "$out/steps.log"
    } > "$out/summary.md.tmp"
  fi
  mv -f "$out/summary.md.tmp" "$out/summary.md"
  if tar -C "$logs" -czf "$out/logs.tgz.tmp" . 2> /dev/null; then mv -f "$out/logs.tgz.tmp" "$out/logs.tgz"; fi
  rm -f "$out/logs.tgz.tmp"
}

fatal() {  # fatal WHY: nothing can run; a summary that says so, and out at once
  echo "=== payload: FAILED ($1)" | tee -a "$out/steps.log"
  {
    echo "## GPU run of the bundle"; echo; sed 's/$/  /' "$logs/REV"; echo
    echo "**Nothing ran: $1.** Build and carry the payload (scripts/gpu_bundle.sh, then carry .gpu-bundle);" \
      "this script does not build on the device machine."
  } > "$out/summary.md.tmp"
  mv -f "$out/summary.md.tmp" "$out/summary.md"
  tar -C "$logs" -czf "$out/logs.tgz.tmp" . 2> /dev/null && mv -f "$out/logs.tgz.tmp" "$out/logs.tgz"
  cat "$out/summary.md"
  exit 2
}

step() {  # step NAME SECONDS LOG COMMAND...: COMMAND, its output into LOG (and here), under a timeout
  local name=$1 want=$2 log=$3
  shift 3
  local left=$((deadline - SECONDS - 15))  # 15 s: --kill-after, and the summary after the last step
  if [ "$left" -lt 5 ]; then
    echo "=== $name: SKIPPED for lack of time ($((deadline - SECONDS))s left before the deadline)" | tee -a "$out/steps.log"
    status=1
    summarize
    return 0
  fi
  local limit=$((want < left ? want : left)) started=$SECONDS rc state
  echo "--- $name (at most ${limit}s)"
  timeout --kill-after=5 "$limit" "$@" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  case $rc in
    0) state=ok ;;
    124 | 137) state="TIMED OUT" ;;
    *) state=FAILED ;;
  esac
  echo "=== $name: $state (exit $rc) after $((SECONDS - started))s of at most ${limit}s" | tee -a "$out/steps.log"
  [ "$rc" -eq 0 ] || status=1
  summarize
}

summarize
unpacked=/tmp/concise-gpu
[ -f "$here/payload.tar.xz" ] || fatal "no payload.tar.xz in $here"
rm -rf "$unpacked" && mkdir -p "$unpacked"
tar -C "$unpacked" -xJf "$here/payload.tar.xz" 2> "$logs/unpack.err" || fatal "payload.tar.xz did not unpack ($(tail -n 1 "$logs/unpack.err"))"
for f in bin/concise_cuda_tests bin/bench_solvers bin/concise lib/concise/libconcise_cuda.so; do
  [ -f "$unpacked/$f" ] || fatal "the payload has no $f"
done

# The bundle's binaries alone get the bundle's libraries, then CUDA's (the toolkit's, or
# the nvidia-* wheels beside PyTorch), then the original path: Python, nvidia-smi and
# compute-sanitizer keep the environment they were given.
join_path() {  # the non-empty components of all arguments, ':'-separated
  local joined="" part IFS=:
  set -f
  # shellcheck disable=SC2048  # split on the colons on purpose
  for part in $*; do [ -n "$part" ] && joined=${joined:+$joined:}$part; done
  set +f
  printf '%s' "$joined"
}
nvidia_libs=$(python3 -c 'import glob, os, nvidia; root = list(nvidia.__path__)[0]; print(":".join(sorted({os.path.dirname(p) for p in glob.glob(os.path.join(root, "*", "lib", "*.so*"))})))' 2> /dev/null || true)
cuda_libs=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && cuda_libs=$(join_path "$cuda_libs" "$d")
done
bundle_libs=$(join_path "$unpacked/lib" "$cuda_libs" "$nvidia_libs" "${LD_LIBRARY_PATH-}")
wrap=$unpacked/with-libs
printf '#!/bin/sh\n# A bundle binary with the bundle'"'"'s libraries first.\nLD_LIBRARY_PATH='"'%s'"'\nexport LD_LIBRARY_PATH\nexec "$@"\n' \
  "$bundle_libs" > "$wrap"
chmod +x "$wrap"
bin=$unpacked/bin
bench=(--device cuda --benchmark_min_time=0.3 --benchmark_out_format=json)

# shellcheck disable=SC2016  # the script expands its own arguments
step device 20 "$logs/device.log" bash -c 'echo "kernel: $(uname -r)"; nvidia-smi; rc=$?
  echo "library path of the bundle binaries: $2"; backends=$("$1" "$3" backends 2>&1); echo "$backends"
  if [ $rc -eq 0 ] && echo "$backends" | grep -q "cuda (solvers): unavailable"; then rc=5; fi; exit $rc' \
  device "$wrap" "$bundle_libs" "$bin/concise"
# 1. Parity: with CONCISE_REQUIRE_GPU a missing GPU fails instead of skipping; any skip left fails too.
step parity 100 "$out/parity.log" env CONCISE_REQUIRE_GPU=1 "$wrap" "$bin/concise_cuda_tests"
if grep -q '^\[  SKIPPED \]' "$out/parity.log"; then
  echo "=== parity: FAILED (tests SKIPPED, which counts as a failure)" | tee -a "$out/steps.log"
  status=1
  summarize
fi
# 2. The floor and the working set (FP32 and TF32 passes) at c = 10k, d = 512, lambda = 0.25, over batch sizes.
step ws_10k 120 "$logs/ws_10k.log" "$wrap" "$bin/bench_solvers" "${bench[@]}" --solvers ws,ws-tf32 --concepts 10000 \
  --dims 512 --rows 65536 --l1 0.25 --gpu-batch 4096,16384,65536 --benchmark_out="$logs/ws_10k.json"
# 3. SpLiCE's Cholesky ADMM on the same sizes (torch, its own CUDA libraries): 150 iterations at most, timed.
step splice_admm 60 "$logs/splice_admm.log" env PYTHONUNBUFFERED=1 python3 "$here/splice_admm_baseline.py" \
  --device cuda --concepts 10000 --dim 512 --rows 4096 --l1 0.25 --iters 150
# 4. A small lambda (many atoms per row), then target sparsity (at most 10 atoms per row, the lambda grid's walk).
step ws_small_lambda 50 "$logs/ws_small_lambda.log" "$wrap" "$bin/bench_solvers" "${bench[@]}" --solvers ws,ws-tf32 \
  --concepts 10000 --dims 512 --rows 16384 --l1 0.02 --benchmark_out="$logs/ws_small_lambda.json"
step ws_l0 35 "$logs/ws_l0.log" "$wrap" "$bin/bench_solvers" "${bench[@]}" --solvers ws --concepts 10000 --dims 512 \
  --rows 16384 --l0 10 --benchmark_out="$logs/ws_l0.json"
# 5. Large dictionaries: no c x c matrix, so c = 200k fits.
step ws_large 90 "$logs/ws_large.log" "$wrap" "$bin/bench_solvers" "${bench[@]}" --solvers ws,ws-tf32 \
  --concepts 50000,200000 --dims 768 --rows 16384 --l1 0.25 --benchmark_out="$logs/ws_large.json"
# 6. compute-sanitizer memcheck on the working set's own tests. It depends on the machine's
# runtime, not the GPU kind (KINDS.md): it runs on Firecracker machines and refuses the
# device on gVisor ones ("Device not supported"), which the summary reports as such. The
# sanitizer keeps the original environment; the wrapper it starts (followed, with
# --target-processes all) gives the tests the bundle's libraries.
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
step memcheck 65 "$logs/memcheck.log" env CONCISE_REQUIRE_GPU=1 "$sanitizer" --tool memcheck --error-exitcode 9 \
  --target-processes all "$wrap" "$bin/concise_cuda_tests" \
  --gtest_filter='*TiedCorrelations*:*DevicePointers*:EverySolver/GpuSolverParity.SmallBatches*/ws:EverySolver/GpuSolverParity.SmallBatches*/ws_tf32:*TargetSparsity*-*RealPhotos*'
summarize
cat "$out/summary.md"
exit $status
RUN
chmod +x "$bundle/run.sh"

# What will travel: the working tree (tracked, and untracked files git does not ignore),
# an ignored shared/, and this bundle.
tree_bytes=$( (git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s -- 2> /dev/null || true) |
  awk '{s += $1} END {print s + 0}')
shared_bytes=0
if [ -d shared ] && git check-ignore -q shared; then shared_bytes=$(du -sb shared | cut -f1); fi
bundle_bytes=$(du -sb "$bundle" | cut -f1)
total=$((tree_bytes + shared_bytes + bundle_bytes))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
echo "carried: working tree $(mib "$tree_bytes") + shared/ $(mib "$shared_bytes") + $bundle $(mib "$bundle_bytes")" \
  "= $(mib "$total") (at most ${limit_mib} MiB here; the device's limit is 64)"
if [ "$total" -gt $((limit_mib * 1048576)) ]; then
  echo "error: too much would travel; the largest untracked files git does not ignore:" >&2
  (git ls-files -z --others --exclude-standard | xargs -0 -r du -b -- 2> /dev/null || true) | sort -n | tail -n 5 >&2
  exit 1
fi
