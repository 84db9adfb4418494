#pragma once
// Runs CUDA kernels on the CPU for the tests: every GPU thread is a fiber, the
// threads of a block take turns between synchronisation points, and warp shuffles,
// votes, barriers and CUB block collectives are resolved only when every thread they
// name has arrived. What a GPU would leave undefined is reported and aborts: a
// barrier some threads never reach, a shuffle naming an exited lane, a CUB temporary
// storage reused without __syncthreads, too much shared memory, a launch outside the
// hardware's limits. Shared memory starts as 0xff bytes (NaN floats), and
// CONCISE_EMU_SCHEDULE=reverse runs the ready threads in the opposite order, so code
// that leans on thread timing gives other answers.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <tuple>
#include <type_traits>
#include <utility>

struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
using cudaStream_t = struct CUstream_st*;

namespace concise_emu {

struct LaunchConfig {
  dim3 grid, block;
  std::size_t shared_bytes = 0;
  cudaStream_t stream = nullptr;
  LaunchConfig(dim3 g, dim3 b, std::size_t s = 0, cudaStream_t st = nullptr)
      : grid(g), block(b), shared_bytes(s), stream(st) {}
};

uint3 thread_index();
uint3 block_index();
dim3 block_dim();
dim3 grid_dim();

// Runs body on every thread of every block; records a launch error instead when
// the configuration is one a GPU refuses.
void run_kernel(const char* name, const LaunchConfig& config, const std::function<void()>& body);

// A pointer argument a GPU could not dereference (host memory, another device's, freed):
// aborts naming the kernel and the argument.
void check_pointer_argument(const char* kernel, int index, const void* p);
template <class T>
void check_argument(const char* kernel, int index, const T& value) {
  if constexpr (std::is_pointer<T>::value) check_pointer_argument(kernel, index, value);
}

template <class Kernel, class... Args>
void launch(const LaunchConfig& config, const char* name, Kernel kernel, Args... args) {
  int index = 0;
  (check_argument(name, index++, args), ...);
  const std::tuple<std::decay_t<Args>...> values(args...);
  run_kernel(name, config, [&] {
    auto copy = values;  // each thread owns its parameters, as on a GPU
    std::apply(kernel, copy);
  });
}

void set_max_dynamic_shared(const char* kernel, int bytes);

// Shared memory of the running block: one object per declaration, 0xff at block start.
void* shared_object(const void* key, std::size_t bytes, std::size_t align);
template <class T>
T& shared(const void* key) {
  return *static_cast<T*>(shared_object(key, sizeof(T), alignof(T)));
}
template <class T>
T* dynamic_shared() {
  return static_cast<T*>(shared_object(nullptr, 0, alignof(T)));
}

// --- the synchronisation points ------------------------------------------------
enum class Op { SyncThreads, SyncWarp, ShflIdx, ShflDown, ShflUp, ShflXor, Ballot, Any, All, Collective };

// A block collective: resolve fills out[t] from in[t] for every thread t of the block.
using Resolver = void (*)(const std::uint64_t* in, std::uint64_t* out, std::uint64_t* aggregate, int threads);

struct Arrival {
  Op op = Op::SyncThreads;
  unsigned mask = 0;
  std::uint64_t value = 0;
  int param = 0, width = 32;
  Resolver resolve = nullptr;
  const void* storage = nullptr;  // CUB temporary storage of a collective
  std::uint64_t* storage_epoch = nullptr;
  const char* what = "";
};
struct Outcome {
  std::uint64_t value = 0, aggregate = 0;
};
Outcome arrive(const Arrival& arrival);


template <class T>
std::uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffles of at most 8 bytes");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof v);
  return bits;
}
template <class T>
T from_bits(std::uint64_t bits) {
  T v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

// What a thread sees in a result CUB leaves undefined for it: NaN or a large odd integer.
template <class T>
T poison() {
  if constexpr (std::is_floating_point<T>::value) return std::numeric_limits<T>::quiet_NaN();
  else return static_cast<T>(0x5eadbeefu);
}

// A CUB block collective of `threads` threads on `storage` (its epoch checks reuse).
template <class Value, class Storage>
Outcome collective(Value value, int param, int threads, Resolver resolver, Storage& storage, const char* what) {
  Arrival a;
  a.op = Op::Collective;
  a.value = to_bits(value);
  a.param = param;
  a.width = threads;
  a.resolve = resolver;
  a.storage = &storage;
  a.storage_epoch = &storage.epoch;
  a.what = what;
  return arrive(a);
}

}  // namespace concise_emu
