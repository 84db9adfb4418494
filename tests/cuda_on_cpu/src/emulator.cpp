// The fibers and the scheduler of the CUDA CPU emulator (concise_emu/emulator.hpp).
#include "concise_emu/emulator.hpp"

#include <sys/mman.h>

#include <boost/context/fiber.hpp>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_runtime.h"

namespace concise_emu {
namespace {

constexpr std::size_t kStackBytes = 256 * 1024;
constexpr std::size_t kGuardBytes = 4096;
constexpr std::size_t kStaticSharedLimit = 48 * 1024;
constexpr std::size_t kDynamicSharedDefault = 48 * 1024;
constexpr std::size_t kSharedOptIn = 232448;  // sm_90: 227 KiB per block

// A fiber's stack, with an inaccessible page below it so an overflow faults.
class Stack {
 public:
  Stack() {
    base_ = mmap(nullptr, kStackBytes + kGuardBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base_ == MAP_FAILED) {
      std::fprintf(stderr, "concise CUDA emulator: cannot map a fiber stack\n");
      std::abort();
    }
    mprotect(base_, kGuardBytes, PROT_NONE);
  }
  ~Stack() { munmap(base_, kStackBytes + kGuardBytes); }
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;
  void* top() const { return static_cast<char*>(base_) + kGuardBytes + kStackBytes; }

 private:
  void* base_ = nullptr;
};

// Hands a fiber one of the thread's stacks, kept from block to block.
struct ReusedStack {
  Stack* stack;
  boost::context::stack_context allocate() {
    boost::context::stack_context sc;
    sc.size = kStackBytes;
    sc.sp = stack->top();
    return sc;
  }
  void deallocate(boost::context::stack_context&) noexcept {}
};

struct Fiber {
  boost::context::fiber context;    // the thread's own
  boost::context::fiber scheduler;  // where it goes back to at a synchronisation point
  uint3 index;
  bool finished = false;
  bool waiting = false;
  Arrival arrival;
  Outcome outcome;
};

struct Block {
  const char* kernel = "";
  const LaunchConfig* config = nullptr;
  uint3 index;
  int threads = 0;
  std::vector<Fiber>* fibers = nullptr;
  int current = -1;
  const std::function<void()>* body = nullptr;
  bool reverse = false;     // CONCISE_EMU_SCHEDULE=reverse, read once per launch
  std::uint64_t epoch = 0;  // block barriers passed
  std::map<const void*, std::unique_ptr<std::max_align_t[]>> statics;
  std::size_t static_bytes = 0;
  std::vector<std::max_align_t> dynamic;
};

thread_local Block* active = nullptr;
thread_local std::vector<std::unique_ptr<Stack>> stacks;

std::mutex attribute_mutex;
std::map<std::string, int>& dynamic_shared_limits() {
  static std::map<std::string, int> limits;  // per kernel, set by cudaFuncSetAttribute
  return limits;
}

std::string describe(const Block& b) {
  return std::string("kernel ") + b.kernel + ", block (" + std::to_string(b.index.x) + "," +
         std::to_string(b.index.y) + "," + std::to_string(b.index.z) + ")";
}

[[noreturn]] void fail(const Block& b, const std::string& what) {
  std::fprintf(stderr, "concise CUDA emulator: %s: %s\n", describe(b).c_str(), what.c_str());
  std::fflush(stderr);
  std::abort();
}

Block& running(const char* what) {
  if (active == nullptr || active->current < 0) {
    std::fprintf(stderr, "concise CUDA emulator: %s called outside a kernel\n", what);
    std::abort();
  }
  return *active;
}

boost::context::fiber fiber_entry(boost::context::fiber&& scheduler) {
  Block& b = *active;
  Fiber& f = (*b.fibers)[b.current];
  f.scheduler = std::move(scheduler);
  (*b.body)();
  f.finished = true;
  return std::move(f.scheduler);
}

bool is_warp_op(Op op) { return op != Op::SyncThreads && op != Op::Collective; }

// Resolves the warp operations whose every named lane has arrived.
bool release_warps(Block& b) {
  auto& fibers = *b.fibers;
  bool released = false;
  for (int base = 0; base < b.threads; base += 32) {
    const int lanes = std::min(32, b.threads - base);
    for (int l = 0; l < lanes; ++l) {
      Fiber& f = fibers[base + l];
      if (!f.waiting || !is_warp_op(f.arrival.op)) continue;
      const unsigned mask = f.arrival.mask;
      if ((mask & (1u << l)) == 0)
        fail(b, "thread " + std::to_string(base + l) + " calls " + f.arrival.what + " with a mask without its own lane");
      // CUDA asks only the named lanes that have not exited to take part: an exited (or
      // missing) lane counts as arrived with a vote of 0, and only reading it is a fault.
      unsigned taking_part = 0;
      bool ready = true;
      for (int m = 0; m < lanes; ++m) {
        if ((mask & (1u << m)) == 0 || fibers[base + m].finished) continue;
        taking_part |= 1u << m;
        const Fiber& g = fibers[base + m];
        if (!g.waiting || !is_warp_op(g.arrival.op) || g.arrival.mask != mask) {
          ready = false;
          break;
        }
        if (g.arrival.op != f.arrival.op)
          fail(b, "lanes of one warp meet at different operations: " + std::string(f.arrival.what) + " and " +
                      g.arrival.what);
      }
      if (!ready) continue;
      const int width = f.arrival.width;
      if (width <= 0 || width > 32 || (width & (width - 1)) != 0)
        fail(b, std::string(f.arrival.what) + " with width " + std::to_string(width));
      unsigned votes = 0;
      for (int m = 0; m < lanes; ++m)
        if ((taking_part & (1u << m)) && fibers[base + m].arrival.value != 0) votes |= 1u << m;
      for (int m = 0; m < lanes; ++m) {
        if ((taking_part & (1u << m)) == 0) continue;
        Fiber& g = fibers[base + m];
        if (g.arrival.width != width) fail(b, std::string(g.arrival.what) + " with widths that differ between lanes");
        const int segment = m - m % width, p = g.arrival.param;
        int source = m;
        switch (g.arrival.op) {
          case Op::ShflIdx: source = segment + ((p % width) + width) % width; break;
          case Op::ShflDown: source = m % width + p < width ? m + p : m; break;
          case Op::ShflUp: source = m % width >= p ? m - p : m; break;
          case Op::ShflXor: source = (m ^ p) <= segment + width - 1 ? (m ^ p) : m; break;  // butterfly: any lower lane
          default: break;
        }
        if (g.arrival.op == Op::Ballot) g.outcome.value = votes;
        else if (g.arrival.op == Op::Any) g.outcome.value = votes != 0 ? 1 : 0;
        else if (g.arrival.op == Op::All) g.outcome.value = votes == taking_part ? 1 : 0;
        else if (g.arrival.op != Op::SyncWarp) {
          if (source >= lanes || (mask & (1u << source)) == 0)
            fail(b, std::string(g.arrival.what) + " of lane " + std::to_string(m) + " reads lane " +
                        std::to_string(source) + ", which is not in its mask");
          if (fibers[base + source].finished)
            fail(b, std::string(g.arrival.what) + " of lane " + std::to_string(m) + " reads lane " +
                        std::to_string(source) + ", which has exited");
          g.outcome.value = fibers[base + source].arrival.value;
        }
      }
      for (int m = 0; m < lanes; ++m)
        if (taking_part & (1u << m)) fibers[base + m].waiting = false;
      released = true;
    }
  }
  return released;
}

// Resolves a block barrier or collective once every thread still running waits at it.
bool release_block(Block& b) {
  auto& fibers = *b.fibers;
  const Fiber* first = nullptr;
  int exited = 0;
  for (const Fiber& f : fibers) {
    if (f.finished) {
      ++exited;
      continue;
    }
    if (!f.waiting || is_warp_op(f.arrival.op)) return false;
    if (first == nullptr) first = &f;
  }
  if (first == nullptr) return false;
  for (const Fiber& f : fibers) {
    if (f.finished) continue;
    if (f.arrival.op != first->arrival.op || f.arrival.storage != first->arrival.storage ||
        f.arrival.resolve != first->arrival.resolve)
      fail(b, std::string("threads of one block meet at different barriers: ") + first->arrival.what + " and " +
                  f.arrival.what);
  }
  if (first->arrival.op == Op::Collective) {
    if (exited > 0)
      fail(b, std::string(first->arrival.what) + " after " + std::to_string(exited) +
                  " threads of the block have exited");
    if (first->arrival.width != b.threads)
      fail(b, std::string(first->arrival.what) + " built for " + std::to_string(first->arrival.width) +
                  " threads runs in a block of " + std::to_string(b.threads));
    if (*first->arrival.storage_epoch == b.epoch)
      fail(b, std::string(first->arrival.what) +
                  " reuses its TempStorage without a __syncthreads after the collective before");
    std::vector<std::uint64_t> in(b.threads), out(b.threads);
    for (int t = 0; t < b.threads; ++t) in[t] = fibers[t].arrival.value;
    std::uint64_t aggregate = static_cast<std::uint64_t>(first->arrival.param);
    first->arrival.resolve(in.data(), out.data(), &aggregate, b.threads);
    std::uint64_t* epoch = first->arrival.storage_epoch;
    ++b.epoch;
    *epoch = b.epoch;
    for (int t = 0; t < b.threads; ++t) {
      fibers[t].outcome.value = out[t];
      fibers[t].outcome.aggregate = aggregate;
    }
  } else {
    ++b.epoch;
  }
  for (Fiber& f : fibers) f.waiting = false;
  return true;
}

[[noreturn]] void deadlock(const Block& b) {
  std::map<std::string, int> waits;
  int exited = 0;
  for (const Fiber& f : *b.fibers) {
    if (f.finished) ++exited;
    else ++waits[f.arrival.what];
  }
  std::string what = "the threads wait forever:";
  for (const auto& w : waits) what += " " + std::to_string(w.second) + " at " + w.first + ";";
  what += " " + std::to_string(exited) + " exited";
  fail(b, what);
}

bool reverse_schedule() {
  const char* v = std::getenv("CONCISE_EMU_SCHEDULE");
  return v != nullptr && std::string(v) == "reverse";
}

void run_block(Block& b) {
  auto& fibers = *b.fibers;
  const dim3 dims = b.config->block;
  for (int t = 0; t < b.threads; ++t) {
    Fiber& f = fibers[t];
    f.finished = f.waiting = false;
    f.index.x = static_cast<unsigned>(t) % dims.x;
    f.index.y = static_cast<unsigned>(t) / dims.x % dims.y;
    f.index.z = static_cast<unsigned>(t) / (dims.x * dims.y);
    f.context = boost::context::fiber(std::allocator_arg, ReusedStack{stacks[t].get()}, fiber_entry);
  }
  b.epoch = 0;
  b.statics.clear();
  b.static_bytes = 0;
  if (!b.dynamic.empty()) std::memset(b.dynamic.data(), 0xff, b.dynamic.size() * sizeof(std::max_align_t));
  for (;;) {
    bool all_finished = true;
    for (int k = 0; k < b.threads; ++k) {
      const int t = b.reverse ? b.threads - 1 - k : k;
      Fiber& f = fibers[t];
      if (f.finished) continue;
      if (!f.waiting) {
        b.current = t;
        f.context = std::move(f.context).resume();
        b.current = -1;
      }
      if (!f.finished) all_finished = false;
    }
    if (all_finished) return;
    if (!release_warps(b) && !release_block(b)) deadlock(b);
  }
}

}  // namespace

uint3 thread_index() { return (*running("threadIdx").fibers)[active->current].index; }
uint3 block_index() { return running("blockIdx").index; }
dim3 block_dim() { return running("blockDim").config->block; }
dim3 grid_dim() { return running("gridDim").config->grid; }

Outcome arrive(const Arrival& arrival) {
  Block& b = running(arrival.what);
  Fiber& f = (*b.fibers)[b.current];
  f.arrival = arrival;
  f.waiting = true;
  f.scheduler = std::move(f.scheduler).resume();
  return f.outcome;
}

void* shared_object(const void* key, std::size_t bytes, std::size_t align) {
  Block& b = running("__shared__");
  if (align > alignof(std::max_align_t)) fail(b, "shared memory aligned beyond max_align_t");
  if (key == nullptr) {
    if (b.dynamic.empty()) fail(b, "extern __shared__ memory read by a kernel launched with none");
    return b.dynamic.data();
  }
  auto& slot = b.statics[key];
  if (!slot) {
    const std::size_t n = (bytes + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t);
    slot.reset(new std::max_align_t[n]);
    std::memset(slot.get(), 0xff, n * sizeof(std::max_align_t));
    b.static_bytes += bytes;
    if (b.static_bytes > kStaticSharedLimit)
      fail(b, std::to_string(b.static_bytes) + " bytes of static shared memory, beyond 48 KiB");
    if (b.static_bytes + b.config->shared_bytes > kSharedOptIn)
      fail(b, "static and dynamic shared memory beyond the block's 227 KiB");
  }
  return slot.get();
}

void check_pointer_argument(const char* kernel, int index, const void* p) {
  if (p == nullptr || kernel_may_read(p)) return;
  std::fprintf(stderr, "concise CUDA emulator: kernel %s: argument %d (%p) is not memory of the current GPU "
               "(host memory, another GPU's, or freed)\n", kernel, index, p);
  std::fflush(stderr);
  std::abort();
}

void set_max_dynamic_shared(const char* kernel, int bytes) {
  const std::lock_guard<std::mutex> lock(attribute_mutex);
  dynamic_shared_limits()[kernel] = bytes;
}

void run_kernel(const char* name, const LaunchConfig& config, const std::function<void()>& body) {
  if (active != nullptr) {
    std::fprintf(stderr, "concise CUDA emulator: kernel %s launched from a kernel\n", name);
    std::abort();
  }
  const dim3 g = config.grid, k = config.block;
  const unsigned long long threads = 1ull * k.x * k.y * k.z;
  if (threads == 0 || threads > 1024 || k.x > 1024 || k.y > 1024 || k.z > 64 || g.x == 0 || g.y == 0 || g.z == 0 ||
      g.x > 2147483647u || g.y > 65535 || g.z > 65535) {
    record_error(cudaErrorInvalidConfiguration);
    return;
  }
  std::size_t allowed = kDynamicSharedDefault;
  {
    const std::lock_guard<std::mutex> lock(attribute_mutex);
    const auto found = dynamic_shared_limits().find(name);
    if (found != dynamic_shared_limits().end()) allowed = static_cast<std::size_t>(found->second);
  }
  if (config.shared_bytes > allowed || config.shared_bytes > kSharedOptIn) {
    record_error(cudaErrorInvalidValue);
    return;
  }
  // A stream of another device than the current one is an invalid handle for a launch.
  if (config.stream != nullptr && stream_device(config.stream) != current_device()) {
    record_error(cudaErrorInvalidResourceHandle);
    return;
  }
  while (stacks.size() < threads) stacks.push_back(std::make_unique<Stack>());
  std::vector<Fiber> fibers(threads);
  Block b;
  b.kernel = name;
  b.config = &config;
  b.threads = static_cast<int>(threads);
  b.fibers = &fibers;
  b.body = &body;
  b.dynamic.resize((config.shared_bytes + sizeof(std::max_align_t) - 1) / sizeof(std::max_align_t));
  active = &b;
  b.reverse = reverse_schedule();  // blocks in the other order too
  const unsigned long long blocks = 1ull * g.x * g.y * g.z;
  for (unsigned long long n = 0; n < blocks; ++n) {
    const unsigned long long at = b.reverse ? blocks - 1 - n : n;
    b.index.x = static_cast<unsigned>(at % g.x);
    b.index.y = static_cast<unsigned>(at / g.x % g.y);
    b.index.z = static_cast<unsigned>(at / (1ull * g.x * g.y));
    run_block(b);
  }
  active = nullptr;
}

}  // namespace concise_emu
