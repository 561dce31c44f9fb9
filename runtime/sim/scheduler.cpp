// The execution model of runtime/sim: thread blocks run on a pool of worker threads (one block at a
// time per worker, blocks in parallel), each CUDA thread of a block is a Boost.Context fiber on its
// worker. A fiber runs uninterrupted until it reaches a barrier, a warp collective or its end; the
// scheduler then runs the next one. Between two synchronisation rounds the order of the runnable
// threads is shuffled by an RNG seeded from (AE_SIM_SEED, launch number, block index), so a missing
// __syncthreads reads stale shared memory instead of a lucky value, and every run is replayable.
// When no thread can make progress (threads at different barriers, a warp mask naming lanes that
// never arrive) the block fails with a message naming the kernel: the sim never hangs.
#include "runtime/sim/scheduler.h"

#include "runtime/sim/checks.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/context/fiber.hpp>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "runtime/sim/device.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define AE_SIM_ASAN 1
#endif

namespace ae::sim::detail {
namespace {

namespace ctx = boost::context;

// ---- global settings and counters ----
std::mutex g_settings_mutex;
DeviceConfig g_device;
std::atomic<uint64_t> g_seed{[] {
  const char* s = std::getenv("AE_SIM_SEED");
  return s ? std::strtoull(s, nullptr, 0) : uint64_t(1);
}()};
std::atomic<int> g_workers{[] {
  const char* s = std::getenv("AE_SIM_THREADS");
  int n = s ? std::atoi(s) : int(std::thread::hardware_concurrency());
  return std::max(1, n);
}()};
std::atomic<uint64_t> g_launches{0}, g_blocks{0}, g_resumes{0};
std::string g_last_failure;

#ifdef AE_SIM_ASAN
constexpr size_t SMEM_GUARD = 0;  // the allocation's exact size: ASan catches overruns
#else
constexpr size_t SMEM_GUARD = k_smem_guard;  // memcheck reports accesses in the guards
#endif

size_t stack_bytes() {
  static const size_t bytes = [] {
    const char* s = std::getenv("AE_SIM_STACK_KB");
#ifdef AE_SIM_ASAN
    size_t kb = 256;  // ASan redzones make frames several times larger
#else
    size_t kb = 64;
#endif
    if (s) kb = std::max<size_t>(16, std::strtoull(s, nullptr, 0));
    return kb * 1024;
  }();
  return bytes;
}

// A fiber stack with a guard page below it, mapped once per worker and reused by every block.
struct Stack {
  void* base = nullptr;
  size_t size = 0;  // usable bytes above the guard page
  Stack() {
    size_t page = size_t(sysconf(_SC_PAGESIZE));
    size = stack_bytes();
    base = mmap(nullptr, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) throw std::bad_alloc();
    mprotect(base, page, PROT_NONE);
    base = static_cast<char*>(base) + page;
  }
  ~Stack() {
    size_t page = size_t(sysconf(_SC_PAGESIZE));
    if (base) munmap(static_cast<char*>(base) - page, size + page);
  }
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;
  void* top() const { return static_cast<char*>(base) + size; }
};

// Boost.Context stack allocator that hands out a worker's pre-mapped stack and never frees it.
struct StackRef {
  Stack* stack;
  ctx::stack_context allocate() {
    ctx::stack_context sc;
    sc.size = stack->size;
    sc.sp = stack->top();
    return sc;
  }
  void deallocate(ctx::stack_context&) noexcept {}
};

struct AbortBlock {};  // unwinds a suspended CUDA thread when its block has failed

enum class State : uint8_t { runnable, at_barrier, at_warp, exited };

struct SimThread {
  ctx::fiber fiber;  // the CUDA thread while it is suspended
  ctx::fiber sched;  // the scheduler while the CUDA thread runs
  uint3 idx{};
  int linear = 0;
  State state = State::runnable;
  BarrierKind barrier_kind = BarrierKind::plain;
  int predicate = 0;
  int barrier_result = 0;
  std::source_location where;
  WarpCall* call = nullptr;
  void* asan_fake_stack = nullptr;
};

struct Worker {
  std::vector<std::unique_ptr<Stack>> stacks;
  std::vector<SimThread> threads;
  struct Free {
    void operator()(unsigned char* p) const { std::free(p - SMEM_GUARD); }
  };
  std::unique_ptr<unsigned char, Free> dynamic_smem;  // 128-byte aligned, the launch's size between guards
  size_t dynamic_smem_bytes = 0;
  const void* main_stack_bottom = nullptr;  // the worker's own stack, for ASan's fiber annotations
  size_t main_stack_size = 0;
  void* main_fake_stack = nullptr;
};
thread_local Worker t_worker;

struct Block {
  const KernelLaunch* launch = nullptr;
  SimThread* threads = nullptr;
  int n = 0;
  uint3 idx{};
  bool aborted = false;
  std::string error;
};
thread_local Block* t_block = nullptr;
thread_local SimThread* t_self = nullptr;

// ---- ASan fiber annotations (no-ops without ASan) ----
inline void asan_start(void** fake, const void* bottom, size_t size) {
#ifdef AE_SIM_ASAN
  __sanitizer_start_switch_fiber(fake, bottom, size);
#else
  (void)fake, (void)bottom, (void)size;
#endif
}
inline void asan_finish(void* fake, const void** bottom_old, size_t* size_old) {
#ifdef AE_SIM_ASAN
  __sanitizer_finish_switch_fiber(fake, bottom_old, size_old);
#else
  (void)fake, (void)bottom_old, (void)size_old;
#endif
}

std::string where_text(const std::source_location& w) {
  std::ostringstream os;
  const char* f = w.file_name();
  const char* slash = std::strrchr(f, '/');
  os << (slash ? slash + 1 : f) << ":" << w.line();
  return os.str();
}

std::string thread_text(const SimThread& t) {
  std::ostringstream os;
  os << "thread (" << t.idx.x << "," << t.idx.y << "," << t.idx.z << ") [warp " << t.linear / 32 << " lane "
     << t.linear % 32 << "]";
  return os.str();
}

std::string state_text(const SimThread& t) {
  switch (t.state) {
    case State::exited: return "has exited";
    case State::at_barrier: return "waits at __syncthreads (" + where_text(t.where) + ")";
    case State::at_warp: {
      std::ostringstream os;
      os << "waits in " << t.call->what << " with mask 0x" << std::hex << t.call->mask << " ("
         << where_text(t.call->where) << ")";
      return os.str();
    }
    case State::runnable: return "is runnable";
  }
  return "?";
}

// Suspends the running CUDA thread and returns to the scheduler; resumes here when rescheduled.
void yield_to_scheduler() {
  SimThread* t = t_self;
  Worker& w = t_worker;
  asan_start(&t->asan_fake_stack, w.main_stack_bottom, w.main_stack_size);
  t->sched = std::move(t->sched).resume();
  asan_finish(t->asan_fake_stack, nullptr, nullptr);
  if (t_block->aborted) throw AbortBlock{};
}

bool same_site(const std::source_location& a, const std::source_location& b) {
  return a.line() == b.line() && a.column() == b.column() &&
         (a.file_name() == b.file_name() || std::strcmp(a.file_name(), b.file_name()) == 0);
}

// Completes every warp collective whose lanes have all arrived; returns whether any did. When none
// can, `problem` describes the first collective that is stuck, for the deadlock report.
bool complete_warp_ops(Block& b, std::vector<int>& runnable, std::string& problem) {
  bool progress = false;
  for (int base = 0; base < b.n; base += 32) {
    int lanes = std::min(32, b.n - base);
    unsigned exists = lanes == 32 ? ~0u : ((1u << lanes) - 1);
    unsigned settled = 0;
    for (int l = 0; l < lanes; ++l) {
      SimThread& t = b.threads[base + l];
      if (t.state != State::at_warp || (settled >> l & 1)) continue;
      WarpCall* c = t.call;
      std::ostringstream why;
      if (!(c->mask >> l & 1)) {
        why << thread_text(t) << " calls " << c->what << " with mask 0x" << std::hex << c->mask
            << " that does not include its own lane (" << where_text(c->where) << ")";
        throw std::runtime_error(why.str());
      }
      unsigned need = c->mask & exists;
      WarpCall* group[32] = {};
      bool ok = true;
      for (int j = 0; j < 32 && ok; ++j) {
        if (!(need >> j & 1)) continue;
        SimThread& o = b.threads[base + j];
        if (o.state == State::exited && c->complete == complete_syncwarp) continue;  // exited lanes count as arrived
        if (o.state == State::at_warp && o.call->complete == c->complete && o.call->mask == c->mask) {
          group[j] = o.call;
          continue;
        }
        ok = false;
        if (problem.empty()) {
          why << thread_text(t) << " " << state_text(t) << ", but lane " << j << " of that mask " << state_text(o);
          problem = why.str();
        }
      }
      if (!ok) {
        settled |= 1u << l;
        continue;
      }
      for (int j = 0; j < 32; ++j)
        if (group[j]) group[j]->lane = j;
      checks_collective(base);
      c->complete(group, c->mask);
      if (c->complete == complete_syncwarp) {  // the one warp collective that orders memory
        unsigned members = 0;
        for (int j = 0; j < 32; ++j) members |= group[j] ? 1u << j : 0u;
        checks_warp_sync(base, members);
      }
      for (int j = 0; j < 32; ++j) {
        if (!group[j]) continue;
        b.threads[base + j].state = State::runnable;
        runnable.push_back(base + j);
        settled |= 1u << j;
      }
      progress = true;
    }
  }
  return progress;
}

// Releases a block barrier once every live thread waits at it, all at the same call site.
void release_barrier(Block& b, std::vector<int>& runnable) {
  const SimThread* first = nullptr;
  int count = 0, live = 0;
  for (int i = 0; i < b.n; ++i) {
    SimThread& t = b.threads[i];
    if (t.state == State::exited) continue;
    ++live;
    if (!first) first = &t;
    if (t.barrier_kind != first->barrier_kind || !same_site(t.where, first->where)) {
      throw std::runtime_error(thread_text(*first) + " " + state_text(*first) + " but " + thread_text(t) + " " +
                               state_text(t) + ": every thread of a block must reach the same barrier");
    }
    count += t.predicate != 0;
  }
  int result = 0;
  switch (first->barrier_kind) {
    case BarrierKind::plain: break;
    case BarrierKind::count: result = count; break;
    case BarrierKind::all: result = count == live; break;
    case BarrierKind::any: result = count > 0; break;
  }
  checks_barrier();
  for (int i = 0; i < b.n; ++i) {
    SimThread& t = b.threads[i];
    if (t.state == State::exited) continue;
    t.barrier_result = result;
    t.state = State::runnable;
    runnable.push_back(i);
  }
}

// splitmix64: the block's shuffle RNG; cheap and identical on every platform.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

void resume(SimThread& t) {
  Worker& w = t_worker;
  t_self = &t;
  t_builtins.thread_idx = t.idx;
  checks_switch_to(t.linear, w.stacks[t.linear]->base, w.stacks[t.linear]->size);
  asan_start(&w.main_fake_stack, static_cast<char*>(w.stacks[t.linear]->base), w.stacks[t.linear]->size);
  t.fiber = std::move(t.fiber).resume();
  asan_finish(w.main_fake_stack, nullptr, nullptr);
}

void start_fibers(Block& b) {
  Worker& w = t_worker;
  const dim3 bd = b.launch->block;
  for (int i = 0; i < b.n; ++i) {
    SimThread& t = b.threads[i];
    t.linear = i;
    t.idx = uint3{unsigned(i) % bd.x, (unsigned(i) / bd.x) % bd.y, unsigned(i) / (bd.x * bd.y)};
    t.state = State::runnable;
    t.call = nullptr;
    t.fiber = ctx::fiber(std::allocator_arg, StackRef{w.stacks[i].get()}, [&t](ctx::fiber&& sched) {
      t.sched = std::move(sched);
      Worker& wk = t_worker;
      asan_finish(t.asan_fake_stack, &wk.main_stack_bottom, &wk.main_stack_size);
      try {
        if (!t_block->aborted) t_block->launch->invoke(t_block->launch->args.get());
      } catch (const AbortBlock&) {
      } catch (const std::exception& e) {
        if (t_block->error.empty()) t_block->error = thread_text(t) + ": " + e.what();
        t_block->aborted = true;
      }
      t.state = State::exited;
      asan_start(nullptr, wk.main_stack_bottom, wk.main_stack_size);
      return std::move(t.sched);
    });
  }
}

// Runs one thread block to completion on the calling worker; returns an error text or "".
std::string run_block(const KernelLaunch& l, uint64_t block_linear, uint64_t launch_number, uint64_t seed) {
  Worker& w = t_worker;
  const int n = int(l.block.x * l.block.y * l.block.z);
  while (int(w.stacks.size()) < n) w.stacks.push_back(std::make_unique<Stack>());
  if (int(w.threads.size()) < n) w.threads = std::vector<SimThread>(size_t(n));
  if (w.dynamic_smem_bytes != l.smem_bytes) {  // exact size between guards (SMEM_GUARD)
    void* p = nullptr;
    if (l.smem_bytes && posix_memalign(&p, 128, l.smem_bytes + 2 * SMEM_GUARD) != 0) throw std::bad_alloc();
    w.dynamic_smem.reset(p ? static_cast<unsigned char*>(p) + SMEM_GUARD : nullptr);
    w.dynamic_smem_bytes = l.smem_bytes;
  }
  // Uninitialised shared memory reads as all-ones (NaN for floats), as a GPU's would read garbage.
  if (l.smem_bytes) std::memset(w.dynamic_smem.get(), 0xff, l.smem_bytes);

  Block b;
  b.launch = &l;
  b.threads = w.threads.data();
  b.n = n;
  b.idx = uint3{unsigned(block_linear % l.grid.x), unsigned(block_linear / l.grid.x % l.grid.y),
                unsigned(block_linear / (uint64_t(l.grid.x) * l.grid.y))};
  t_block = &b;
  t_builtins.block_idx = b.idx;
  t_builtins.block_dim = l.block;
  t_builtins.grid_dim = l.grid;
  t_builtins.dynamic_smem = w.dynamic_smem.get();
  checks_begin_block(l, b.idx, n, w.dynamic_smem.get(), l.smem_bytes);

  // The order depends on the seed, the kernel and the block only (not on how many launches came
  // before), so one test re-run alone with the printed AE_SIM_SEED replays the same schedule.
  uint64_t name_hash = 1469598103934665603ull;
  for (const char* p = l.name; *p; ++p) name_hash = (name_hash ^ uint8_t(*p)) * 1099511628211ull;
  Rng rng{seed ^ (name_hash * 0xd1b54a32d192ed03ull) ^ (block_linear * 0x8cb92ba72f3d8dd7ull)};
  (void)launch_number;
  std::vector<int> runnable(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) runnable[size_t(i)] = i;
  std::vector<int> order;
  uint64_t resumes = 0;
  start_fibers(b);
  int live = n;
  std::string problem;
  while (live > 0) {
    order.swap(runnable);
    runnable.clear();
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.next() % i]);
    for (int i : order) {
      resume(b.threads[i]);
      ++resumes;
      if (b.threads[i].state == State::exited) --live;
    }
    if (live == 0) break;
    if (b.aborted) {
      // Unwind every suspended thread so its stack is left cleanly, then report.
      for (int i = 0; i < n; ++i)
        if (b.threads[i].state != State::exited) resume(b.threads[i]);
      break;
    }
    try {
      problem.clear();
      if (complete_warp_ops(b, runnable, problem)) continue;
      int at_barrier = 0;
      for (int i = 0; i < n; ++i) at_barrier += b.threads[i].state == State::at_barrier;
      if (at_barrier == live) {
        release_barrier(b, runnable);
        continue;
      }
      if (problem.empty()) problem = "no thread can make progress";
      throw std::runtime_error(problem + " (deadlock: it would hang on a GPU)");
    } catch (const std::exception& e) {
      b.error = e.what();
      b.aborted = true;
      for (int i = 0; i < n; ++i)
        if (b.threads[i].state != State::exited) resume(b.threads[i]);
      break;
    }
  }
  g_resumes.fetch_add(resumes, std::memory_order_relaxed);
  checks_end_block();
  t_block = nullptr;
  t_self = nullptr;
  if (b.error.empty()) return {};
  std::ostringstream os;
  os << "block (" << b.idx.x << "," << b.idx.y << "," << b.idx.z << "): " << b.error;
  return os.str();
}

// ---- the worker pool: persistent threads plus the launching thread, one launch at a time ----
class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard<std::mutex> g(m_mutex);
      m_stop = true;
    }
    m_wake.notify_all();
    for (auto& t : m_threads) t.join();
  }

  // Runs blocks [0, n) of `l`; returns the first block's error text, or "".
  std::string run(const KernelLaunch& l, uint64_t n, uint64_t launch_number, uint64_t seed) {
    std::lock_guard<std::mutex> serial(m_launch_mutex);
    int helpers = int(std::min<uint64_t>(uint64_t(g_workers.load()), n)) - 1;
    ensure_threads(helpers);
    m_launch = &l;
    m_n = n;
    m_launch_number = launch_number;
    m_seed = seed;
    m_next = 0;
    m_error.clear();
    m_failed = false;
    {
      std::lock_guard<std::mutex> g(m_mutex);
      m_active = helpers;
      m_wanted = helpers;
      ++m_generation;
    }
    m_wake.notify_all();
    work();
    std::unique_lock<std::mutex> g(m_mutex);
    m_done.wait(g, [&] { return m_active == 0; });
    return m_error;
  }

 private:
  void ensure_threads(int count) {
    while (int(m_threads.size()) < count) {
      int id = int(m_threads.size());
      m_threads.emplace_back([this, id] { loop(id); });
    }
  }
  void loop(int id) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> g(m_mutex);
        m_wake.wait(g, [&] { return m_stop || (m_generation != seen && id < m_wanted); });
        if (m_stop) return;
        seen = m_generation;
      }
      work();
      std::lock_guard<std::mutex> g(m_mutex);
      if (--m_active == 0) m_done.notify_all();
    }
  }
  void work() {
    for (;;) {
      uint64_t b = m_next.fetch_add(1);
      if (b >= m_n || m_failed.load()) return;
      std::string e = run_block(*m_launch, b, m_launch_number, m_seed);
      if (!e.empty()) {
        std::lock_guard<std::mutex> g(m_error_mutex);
        if (!m_failed.exchange(true)) m_error = e;
      }
    }
  }

  std::mutex m_launch_mutex, m_mutex, m_error_mutex;
  std::condition_variable m_wake, m_done;
  std::vector<std::thread> m_threads;
  bool m_stop = false;
  uint64_t m_generation = 0;
  int m_active = 0, m_wanted = 0;
  const KernelLaunch* m_launch = nullptr;
  uint64_t m_n = 0, m_launch_number = 0, m_seed = 0;
  std::atomic<uint64_t> m_next{0};
  std::atomic<bool> m_failed{false};
  std::string m_error;
};

Pool& pool() {
  static Pool p;
  return p;
}

// ---- warp collective completions: byte-wise, so one implementation serves every type ----
void poison(WarpCall* c) { std::memset(c->out, 0xff, sizeof c->out); }  // value of an absent source lane

void check_width(WarpCall* c) {
  if (c->width <= 0 || c->width > 32 || (c->width & (c->width - 1)))
    throw std::runtime_error(std::string(c->what) + " with width " + std::to_string(c->width) +
                             ": width must be a power of two in [1, 32] (" + where_text(c->where) + ")");
}

template <typename SOURCE>
void complete_shuffle(WarpCall* const* lanes, SOURCE source) {
  for (int l = 0; l < 32; ++l) {
    WarpCall* c = lanes[l];
    if (!c) continue;
    check_width(c);
    int w = c->width, seg = l & ~(w - 1);
    int src = source(l, c->arg, w, seg);
    if (src < 0) {
      std::memcpy(c->out, c->in, sizeof c->out);  // out of the segment: the lane keeps its own value
    } else if (src < 32 && lanes[src]) {
      std::memcpy(c->out, lanes[src]->in, sizeof c->out);
    } else {
      poison(c);  // reading a lane that did not take part is undefined on a GPU
    }
  }
}

}  // namespace

void complete_shfl_idx(WarpCall* const* lanes, unsigned) {
  complete_shuffle(lanes, [](int, int src, int w, int seg) { return seg + (src & (w - 1)); });
}
void complete_shfl_up(WarpCall* const* lanes, unsigned) {
  complete_shuffle(lanes, [](int l, int d, int, int seg) { return l - d >= seg ? l - d : -1; });
}
void complete_shfl_down(WarpCall* const* lanes, unsigned) {
  complete_shuffle(lanes, [](int l, int d, int w, int seg) { return l + d < seg + w ? l + d : -1; });
}
void complete_shfl_xor(WarpCall* const* lanes, unsigned) {
  complete_shuffle(lanes, [](int l, int m, int w, int seg) { return ((l ^ m) & ~(w - 1)) == seg ? (l ^ m) : -1; });
}
namespace {
unsigned ballot_of(WarpCall* const* lanes) {
  unsigned bits = 0;
  for (int l = 0; l < 32; ++l)
    if (lanes[l] && lanes[l]->arg) bits |= 1u << l;
  return bits;
}
void set_all(WarpCall* const* lanes, unsigned v) {
  for (int l = 0; l < 32; ++l)
    if (lanes[l]) std::memcpy(lanes[l]->out, &v, sizeof v);
}
unsigned present(WarpCall* const* lanes) {
  unsigned bits = 0;
  for (int l = 0; l < 32; ++l)
    if (lanes[l]) bits |= 1u << l;
  return bits;
}
}  // namespace
void complete_ballot(WarpCall* const* lanes, unsigned) { set_all(lanes, ballot_of(lanes)); }
void complete_all(WarpCall* const* lanes, unsigned) { set_all(lanes, ballot_of(lanes) == present(lanes)); }
void complete_any(WarpCall* const* lanes, unsigned) { set_all(lanes, ballot_of(lanes) != 0); }
void complete_syncwarp(WarpCall* const*, unsigned) {}

int block_barrier(BarrierKind kind, int predicate, std::source_location where) {
  SimThread* t = t_self;
  if (!t) throw std::runtime_error("__syncthreads called outside a kernel launched through the sim");
  t->state = State::at_barrier;
  t->barrier_kind = kind;
  t->predicate = predicate;
  t->where = where;
  yield_to_scheduler();
  return t->barrier_result;
}

void warp_collective(WarpCall& call) {
  SimThread* t = t_self;
  if (!t) throw std::runtime_error(std::string(call.what) + " called outside a kernel launched through the sim");
  t->state = State::at_warp;
  t->call = &call;
  yield_to_scheduler();
  t->call = nullptr;
}

unsigned live_lanes() {
  SimThread* t = t_self;
  Block* b = t_block;
  int base = t->linear / 32 * 32;
  unsigned bits = 0;
  for (int l = 0; l < 32 && base + l < b->n; ++l)
    if (b->threads[base + l].state != State::exited) bits |= 1u << l;
  return bits;
}

void trap(const char* why) { throw std::runtime_error(why); }

void fail_block(const std::string& report) {
  Block* b = t_block;
  if (!b) return;
  if (b->error.empty()) {
    b->error = report;
    // Printed now as well as with the launch's failure: the offending thread runs on, unchecked, to
    // its next barrier or exit, and an out-of-bounds loop may bring the process down before that.
    std::fprintf(stderr, "ae::sim: kernel '%s' block (%u,%u,%u): %s\n", b->launch->name, b->idx.x, b->idx.y, b->idx.z,
                 report.c_str());
  }
  b->aborted = true;
}

cudaError_t run_kernel(const KernelLaunch& l) {
  uint64_t number = g_launches.fetch_add(1);
  uint64_t n = uint64_t(l.grid.x) * l.grid.y * l.grid.z;
  uint64_t s = g_seed.load();
  std::string error = pool().run(l, n, number, s);
  g_blocks.fetch_add(n, std::memory_order_relaxed);
  if (error.empty()) return cudaSuccess;
  std::ostringstream os;
  os << "kernel '" << l.name << "' <<<(" << l.grid.x << "," << l.grid.y << "," << l.grid.z << "), (" << l.block.x
     << "," << l.block.y << "," << l.block.z << "), " << l.smem_bytes << ">>> failed in " << error
     << " [replay with AE_SIM_SEED=" << s << "]";
  {
    std::lock_guard<std::mutex> g(g_settings_mutex);
    g_last_failure = os.str();
  }
  std::fprintf(stderr, "ae::sim: %s\n", os.str().c_str());
  return cudaErrorLaunchFailure;
}

}  // namespace ae::sim::detail

namespace ae::sim {

void set_device_config(const DeviceConfig& config) {
  std::lock_guard<std::mutex> g(detail::g_settings_mutex);
  detail::g_device = config;
}
DeviceConfig device_config() {
  std::lock_guard<std::mutex> g(detail::g_settings_mutex);
  return detail::g_device;
}
void set_seed(uint64_t s) { detail::g_seed = s; }
uint64_t seed() { return detail::g_seed; }
void set_worker_count(int workers) { detail::g_workers = std::max(1, workers); }
int worker_count() { return detail::g_workers; }
std::string last_failure() {
  std::lock_guard<std::mutex> g(detail::g_settings_mutex);
  return detail::g_last_failure;
}
Stats stats() { return {detail::g_launches.load(), detail::g_blocks.load(), detail::g_resumes.load()}; }
void reset_stats() {
  detail::g_launches = 0;
  detail::g_blocks = 0;
  detail::g_resumes = 0;
}

}  // namespace ae::sim
