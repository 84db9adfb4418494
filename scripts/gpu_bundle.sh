#!/usr/bin/env bash
# Builds the GPU checks here (CUDA for sm_90, no LibTorch) and packs what a bare GPU
# machine needs to run them into .gpu-bundle/ (git-ignored; carry it): the binaries, the
# CUDA backend plugin (lib/concise/, where the binaries look: <exe dir>/../lib/concise),
# the shared libraries they use that are neither glibc's nor CUDA's (the GPU machine has
# its own CUDA 13), the public test data, and run.sh. On the GPU machine, from the checkout:
#     bash .gpu-bundle/run.sh "$OUT"
# runs the parity tests, compute-sanitizer memcheck and the solver benchmarks, and
# writes their logs to the folder given.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=.gpu-bundle
build=build-gpu
data=data

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCONCISE_CUDA=ON -DCONCISE_TORCH=OFF \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DCONCISE_TEST_DATA_DIR="$bundle/data" > "$build.configure.log"
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
cp bench/splice_admm_baseline.py "$bundle/"
# The carried tree has a size limit: binaries and libraries travel compressed.
tar -C "$bundle" -cJf "$bundle/payload.tar.xz" bin lib
rm -rf "$bundle/bin" "$bundle/lib"
cat > "$bundle/run.sh" <<'RUN'
#!/usr/bin/env bash
# On the GPU machine, from the checkout: bash .gpu-bundle/run.sh OUTPUT_FOLDER
set -uo pipefail
out=${1:?output folder}
here=$(cd "$(dirname "$0")" && pwd)
unpacked=/tmp/concise-gpu
mkdir -p "$unpacked" && tar -C "$unpacked" -xJf "$here/payload.tar.xz"
# CUDA's libraries from the toolkit, or from the nvidia-* wheels beside PyTorch.
nvidia_libs=$(python3 -c 'import glob, os, nvidia; root = list(nvidia.__path__)[0]; print(":".join(sorted({os.path.dirname(p) for p in glob.glob(os.path.join(root, "*", "lib", "*.so*"))})))' 2>/dev/null || true)
export LD_LIBRARY_PATH="$unpacked/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:$nvidia_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
mkdir -p "$out"
nvidia-smi > "$out/device.txt" 2>&1
"$unpacked/bin/concise" backends 2>&1 | tee "$out/backends.log"
"$unpacked/bin/concise_cuda_tests" 2>&1 | tee "$out/parity.log"
compute-sanitizer --tool memcheck --leak-check full "$unpacked/bin/concise_cuda_tests" > "$out/memcheck.log" 2>&1
tail -3 "$out/memcheck.log"
"$unpacked/bin/bench_solvers" --device cuda --solvers ws,fista,admm --concepts 1000,10000,50000 --dims 512,768 \
  --rows 16384,65536 --benchmark_min_time=0.5 2>&1 | tee "$out/bench_gpu.log"
"$unpacked/bin/bench_solvers" --device cuda --solvers ws --concepts 10000 --dims 512 --rows 65536 \
  --gpu-batch 2048,8192,16384 --benchmark_min_time=0.5 2>&1 | tee "$out/bench_gpu_batches.log"
PYTHONUNBUFFERED=1 python3 "$here/splice_admm_baseline.py" --device cuda 2>&1 | tee "$out/splice_admm.log"
RUN
chmod +x "$bundle/run.sh"
du -sh "$bundle"
