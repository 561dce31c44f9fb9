// runtime/sim's racecheck and memcheck: what compute-sanitizer checks on a GPU, found here by
// construction instead of by a lucky thread order.
//
// Kernel sources compiled for the sim are instrumented by GCC's -fsanitize=thread code generation
// (ae_add_sim_cuda_sources), but linked without GCC's TSan runtime: the __tsan_* hooks at the end of
// this file are that runtime. Each plain load or store of a kernel calls one with its address and
// size while a block runs (t_active is set); atomics come through the __tsan_atomic* hooks, which
// perform the operation, record nothing for racecheck (atomics are not hazards) and are memchecked.
//
// racecheck: a shadow entry per byte of shared memory (the launch's dynamic shared memory, and the
// module's thread-local block, where static __shared__ arrays live in the sim) records, for the
// current barrier interval, the last writer and up to two readers with their warp clocks. Two
// accesses of different threads, at least one a write, in one interval are a hazard unless both
// threads are in one warp and a __syncwarp that both took part in separates them (vector clocks over
// the warp's lanes, so the order is transitive). A block barrier starts a new interval. With more
// than two readers of a byte in one interval only the first and the latest are kept (the latest of
// another warp than the first's, when there is one), so a write-after-read against a reader in between
// can go unseen only when all the readers are in the writer's warp and the two kept are ordered.
// memcheck: every access that falls in a device allocation's redzone, or in a gap between the named
// buffers carved from an allocation (pool blocks, arena buffers), is out of bounds; so is one in the
// guards the scheduler leaves around the launch's dynamic shared memory.
// The first finding fails the block with kernel, block, threads, offset and access kind.
#include "runtime/sim/checks.h"

#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "runtime/sim/device.h"

namespace ae::sim::detail {
namespace {

std::atomic<unsigned> g_checks{[] {
  const char* s = std::getenv("AE_SIM_CHECKS");
  if (!s || !*s || !std::strcmp(s, "all")) return unsigned(check_all);
  unsigned c = check_none;
  if (std::strstr(s, "race")) c |= check_race;
  if (std::strstr(s, "mem")) c |= check_memory;
  return c;
}()};
std::atomic<bool> g_instrumented{false};

// The accesses of one barrier interval to one byte. Threads are stored as linear id + 1 (0: none),
// clocks as the accessing thread's own warp clock at the time.
// A word's 4 entries are usually alike (float accesses): the first then stands for all 4 (UNIFORM),
// and is spread to the other 3 only when an access touches part of the word.
struct Entry {
  uint32_t epoch;
  uint16_t w, r1, r2, flags;
  uint32_t wc, r1c, r2c;
};
constexpr uint16_t UNIFORM = 1;

struct Shadow {
  uintptr_t lo = 0;
  size_t size = 0;
  std::vector<Entry> e;
  void cover(uintptr_t base, size_t bytes) {
    lo = base;
    size = bytes;
    if (e.size() < bytes) e.resize(bytes, Entry{});
  }
  void clear() { std::fill(e.begin(), e.end(), Entry{}); }
};

// The module's thread-local block on the calling thread: static __shared__ arrays are thread_local
// there, and so are the sim's built-in variables (left out: kernels only read them).
std::pair<uintptr_t, size_t> module_tls_block() {
  struct Find {
    uintptr_t addr, lo = 0;
    size_t size = 0;
  } f{reinterpret_cast<uintptr_t>(&t_builtins)};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* f = static_cast<Find*>(data);
        if (!info->dlpi_tls_data) return 0;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          if (info->dlpi_phdr[i].p_type != PT_TLS) continue;
          auto lo = reinterpret_cast<uintptr_t>(info->dlpi_tls_data);
          if (f->addr - lo < info->dlpi_phdr[i].p_memsz) {
            f->lo = lo;
            f->size = info->dlpi_phdr[i].p_memsz;
            return 1;
          }
        }
        return 0;
      },
      &f);
  return {f.lo, f.size};
}

struct WorkerChecks {
  bool race = false, memory = false;
  const KernelLaunch* launch = nullptr;
  uint3 block{};
  int n = 0;
  int cur = 0;  // the running thread
  int collective_base = 0;  // the warp whose collective completes (checks_collective)
  uintptr_t stack_lo = 0;
  size_t stack_size = 0;
  uintptr_t skip_lo = 0;  // the sim's built-in variables
  uint32_t epoch = 0;
  std::vector<uint32_t> vc;  // [n][32]: thread t's clock of each lane of its warp
  Shadow smem, tls;
  bool tls_found = false;
  std::shared_ptr<const SpanTable> spans;
  size_t last_span = 0, last_buffer = 0;

  uint32_t own_clock(int t) const { return vc[size_t(t) * 32 + size_t(t % 32)]; }
  // Whether u's access at its clock `cu` happens before the running thread's current access.
  bool ordered(int u, uint32_t cu) const {
    return u / 32 == cur / 32 && vc[size_t(cur) * 32 + size_t(u % 32)] > cu;
  }
  void next_epoch() {
    if (++epoch == 0) {  // wrapped: stale entries could look current
      smem.clear();
      tls.clear();
      epoch = 1;
    }
  }
};
thread_local WorkerChecks t_checks;
// Set while a block with checks runs on this thread: the one test every hook makes first. The
// default TLS model, not initial-exec: that one would flag all of libae.so's thread-locals (the
// sim's __shared__ storage, 140 KB) as static TLS, which a dlopen (Python importing ae) cannot
// allocate. Executables linking libae statically (the tests, the CLI) get the fast model anyway:
// the linker relaxes the access there.
thread_local WorkerChecks* t_active = nullptr;

std::string thread_text(const WorkerChecks& c, int linear) {
  const dim3 bd = c.launch->block;
  std::ostringstream os;
  os << "thread (" << unsigned(linear) % bd.x << "," << (unsigned(linear) / bd.x) % bd.y << ","
     << unsigned(linear) / (bd.x * bd.y) << ") [warp " << linear / 32 << " lane " << linear % 32 << "]";
  return os.str();
}

// "pc 0x… (function+0x…)" or "(module+0x…)", for addr2line -Cfe MODULE OFFSET.
std::string pc_text(const void* pc) {
  std::ostringstream os;
  os << "pc " << pc;
  Dl_info info{};
  if (dladdr(pc, &info) && info.dli_fname) {
    const char* m = std::strrchr(info.dli_fname, '/');
    if (info.dli_sname)
      os << " (" << info.dli_sname << "+0x" << std::hex
         << (reinterpret_cast<uintptr_t>(pc) - reinterpret_cast<uintptr_t>(info.dli_saddr)) << std::dec << ")";
    os << " in " << (m ? m + 1 : info.dli_fname) << "+0x" << std::hex
       << (reinterpret_cast<uintptr_t>(pc) - reinterpret_cast<uintptr_t>(info.dli_fbase));
  }
  return os.str();
}

void report(WorkerChecks&, const std::string& what) {
  t_active = nullptr;  // the first finding of a block is the one reported
  fail_block(what);
}

const char* hazard_name(bool earlier_write, bool write) {
  if (earlier_write) return write ? "write-after-write" : "read-after-write";
  return "write-after-read";
}

[[gnu::noinline, gnu::cold]] void report_hazard(WorkerChecks& c, int other, bool other_wrote, size_t i,
                                               const char* space, size_t off, unsigned n, bool write, const void* pc) {
  std::ostringstream os;
  os << "racecheck: " << hazard_name(other_wrote, write) << " hazard on " << space << " at offset 0x" << std::hex << i
     << std::dec << " (" << n << "-byte " << (write ? "write" : "read") << " at offset 0x" << std::hex << off
     << std::dec << "): " << thread_text(c, c.cur) << (write ? " writes" : " reads") << " where "
     << thread_text(c, other) << (other_wrote ? " wrote" : " read")
     << " in the same barrier interval, with no __syncthreads (nor, within a warp, a __syncwarp of both) "
        "between them; "
     << pc_text(pc);
  report(c, os.str());
}

// Checks and records one access on entry e (the byte at offset i of the space); false after a report.
[[gnu::always_inline]] inline bool race_byte(WorkerChecks& c, Entry& e, size_t i, const char* space, size_t off,
                                             unsigned n, bool write, const void* pc) {
  const uint16_t me = uint16_t(c.cur + 1);
  if (e.w && e.w != me && !c.ordered(e.w - 1, e.wc)) {
    report_hazard(c, e.w - 1, true, i, space, off, n, write, pc);
    return false;
  }
  if (write) {
    const uint16_t r = e.r1 && e.r1 != me && !c.ordered(e.r1 - 1, e.r1c) ? e.r1
                       : e.r2 && e.r2 != me && !c.ordered(e.r2 - 1, e.r2c) ? e.r2
                                                                            : 0;
    if (r) {
      report_hazard(c, r - 1, false, i, space, off, n, write, pc);
      return false;
    }
    e.w = me;
    e.wc = c.own_clock(c.cur);
  } else if (!e.r1 || e.r1 == me) {
    e.r1 = me;
    e.r1c = c.own_clock(c.cur);
  } else if (!e.r2 || e.r2 == me || (e.r2 - 1) / 32 == (e.r1 - 1) / 32 || c.cur / 32 != (e.r1 - 1) / 32) {
    // The latest reader other than the first, except that a reader of another warp than the
    // first's is kept: a writer is ordered only with readers of its own warp, so of two readers in
    // two warps at least one is unordered with any writer, and the hazard is seen on every order.
    e.r2 = me;
    e.r2c = c.own_clock(c.cur);
  }
  return true;
}

void race(WorkerChecks& c, Shadow& sh, const char* space, uintptr_t a, unsigned n, bool write, const void* pc) {
  const size_t off = a - sh.lo, end = std::min(off + n, sh.size);
  const Entry fresh{c.epoch, 0, 0, 0, 0, 0, 0, 0};
  for (size_t i = off; i < end;) {
    Entry* q = &sh.e[i & ~size_t(3)];
    if ((i & 3) == 0 && i + 4 <= end) {  // a whole word
      if (q[0].epoch == c.epoch && (q[0].flags & UNIFORM)) {
        if (!race_byte(c, q[0], i, space, off, n, write, pc)) return;
        i += 4;
        continue;
      }
      if (q[0].epoch != c.epoch && q[1].epoch != c.epoch && q[2].epoch != c.epoch && q[3].epoch != c.epoch) {
        q[0] = fresh;  // untouched this interval: the word starts uniform
        q[0].flags = UNIFORM;
        if (!race_byte(c, q[0], i, space, off, n, write, pc)) return;
        i += 4;
        continue;
      }
    }
    // Part of a word (or a word whose bytes differ): byte by byte, spreading a uniform word first.
    if ((i & ~size_t(3)) + 4 <= sh.size && q[0].epoch == c.epoch && (q[0].flags & UNIFORM)) {
      q[0].flags = 0;
      q[1] = q[2] = q[3] = q[0];
    }
    Entry& e = sh.e[i];
    if (e.epoch != c.epoch) e = fresh;
    if (!race_byte(c, e, i, space, off, n, write, pc)) return;
    ++i;
  }
}

// "offset 4000 of buffer 'h1' (4000 bytes at offset 2048 of a 16384-byte device allocation)".
std::string range_text(intptr_t offset, const NamedRange& r, const Span& s) {
  std::ostringstream os;
  os << "offset " << offset << " of buffer '" << r.name << "' (" << (r.hi - r.lo) << " bytes at offset "
     << (r.lo - s.start) << " of a " << (s.end - s.start) << "-byte " << (s.device ? "device" : "pinned host")
     << " allocation)";
  return os.str();
}

// Where [a, a + n) leaves the bounds it must keep inside span s, or "" when it keeps them.
std::string out_of_bounds(const WorkerChecks&, const Span& s, uintptr_t a, unsigned n, size_t& buffer_hint) {
  const uintptr_t e = a + n;
  if (a < s.start || e > s.end) {
    std::ostringstream why;
    why << "offset " << intptr_t(a - s.start) << " of a " << (s.end - s.start) << "-byte "
        << (s.device ? "device" : "pinned host") << " allocation, " << (a < s.start ? "before its start" : "past its end");
    return why.str();
  }
  if (s.buffers.empty()) return {};
  size_t bi = buffer_hint;
  if (bi < s.buffers.size() && a >= s.buffers[bi].lo && e <= s.buffers[bi].hi) return {};
  auto after = std::upper_bound(s.buffers.begin(), s.buffers.end(), a,
                                [](uintptr_t v, const NamedRange& r) { return v < r.lo; });
  if (after != s.buffers.begin() && a < std::prev(after)->hi && e <= std::prev(after)->hi) {
    buffer_hint = size_t(std::prev(after) - s.buffers.begin());
    return {};
  }
  std::ostringstream why;
  if (after != s.buffers.begin()) {
    const NamedRange& r = *std::prev(after);
    why << range_text(intptr_t(a - r.lo), r, s) << ", past its end";
    if (a >= r.hi && after != s.buffers.end()) why << ", in the gap before buffer '" << after->name << "'";
  } else {
    why << range_text(intptr_t(a) - intptr_t(after->lo), *after, s) << ", before its start";
  }
  return why.str();
}

void memory(WorkerChecks& c, uintptr_t a, unsigned n, const char* kind, const void* pc) {
  const SpanTable& spans = *c.spans;
  if (spans.empty()) return;
  size_t si = c.last_span;
  if (si >= spans.size() || a - spans[si].lo >= spans[si].hi - spans[si].lo) {
    auto it = std::upper_bound(spans.begin(), spans.end(), a, [](uintptr_t v, const Span& s) { return v < s.lo; });
    if (it == spans.begin()) return;
    --it;
    if (a >= it->hi) return;  // not device memory: host memory is ASan's to check
    si = size_t(it - spans.begin());
    c.last_span = si;
    c.last_buffer = 0;
  }
  const Span& s = spans[si];
  if (a >= s.start && a + n <= s.end) {  // the common case: inside the allocation, in the last buffer hit
    if (s.buffers.empty()) return;
    const size_t bi = c.last_buffer;
    if (bi < s.buffers.size() && a >= s.buffers[bi].lo && a + n <= s.buffers[bi].hi) return;
  }
  std::string why = out_of_bounds(c, s, a, n, c.last_buffer);
  if (why.empty()) return;
  std::ostringstream os;
  os << "memcheck: invalid " << n << "-byte " << kind << " at " << reinterpret_cast<void*>(a)
     << " by " << thread_text(c, c.cur) << ": " << why << "; " << pc_text(pc);
  report(c, os.str());
}

[[gnu::noinline, gnu::cold]] void smem_out_of_bounds(WorkerChecks& c, uintptr_t a, unsigned n, const char* kind,
                                                    const void* pc) {
  const intptr_t off = intptr_t(a - c.smem.lo);
  std::ostringstream os;
  os << "memcheck: invalid " << n << "-byte " << kind << " at " << reinterpret_cast<void*>(a) << " by "
     << thread_text(c, c.cur) << ": offset " << off << " of the launch's " << c.smem.size
     << "-byte dynamic shared memory, " << (off < 0 ? "before its start" : "past its end") << "; " << pc_text(pc);
  report(c, os.str());
}

// Whether [a, a + n) leaves the launch's dynamic shared memory for its guards.
inline bool smem_guard_hit(const WorkerChecks& c, uintptr_t a, unsigned n) {
  return c.smem.size && a - (c.smem.lo - k_smem_guard) < c.smem.size + 2 * k_smem_guard &&
         (a < c.smem.lo || a + n > c.smem.lo + c.smem.size);
}

inline void access(uintptr_t a, unsigned n, bool write, const void* pc) {
  WorkerChecks* c = t_active;
  if (__builtin_expect(c == nullptr, 1)) return;
  if (a - c->stack_lo < c->stack_size) return;  // the thread's own locals
  if (__builtin_expect(smem_guard_hit(*c, a, n), 0)) {
    if (c->memory) smem_out_of_bounds(*c, a, n, write ? "write" : "read", pc);
  } else if (a - c->smem.lo < c->smem.size) {
    if (c->race) race(*c, c->smem, "dynamic shared memory", a, n, write, pc);
  } else if (a - c->tls.lo < c->tls.size) {
    if (c->race && a - c->skip_lo >= sizeof(Builtins)) race(*c, c->tls, "static __shared__ memory", a, n, write, pc);
  } else if (c->memory) {
    memory(*c, a, n, write ? "write" : "read", pc);
  }
}

// An atomic: never a hazard, but as much a memory access as any other, so memcheck sees it.
inline void atomic_access(const volatile void* p, unsigned n, const void* pc) {
  WorkerChecks* c = t_active;
  if (__builtin_expect(c == nullptr, 1)) return;
  const auto a = reinterpret_cast<uintptr_t>(p);
  if (c->memory && smem_guard_hit(*c, a, n)) return smem_out_of_bounds(*c, a, n, "atomic", pc);
  if (!c->memory || a - c->stack_lo < c->stack_size || a - c->smem.lo < c->smem.size || a - c->tls.lo < c->tls.size)
    return;
  memory(*c, a, n, "atomic", pc);
}

}  // namespace

void checks_begin_block(const KernelLaunch& launch, uint3 block, int threads, unsigned char* smem, size_t smem_bytes) {
  WorkerChecks& c = t_checks;
  unsigned on = g_checks.load(std::memory_order_relaxed);
  c.race = on & check_race;
  c.memory = on & check_memory;
  if (!(c.race || c.memory) || !g_instrumented.load(std::memory_order_relaxed)) {
    t_active = nullptr;
    return;
  }
  c.launch = &launch;
  c.block = block;
  c.n = threads;
  c.cur = 0;
  c.stack_lo = 0;
  c.stack_size = 0;
  c.next_epoch();
  c.vc.assign(size_t(threads) * 32, 0);
  c.smem.cover(reinterpret_cast<uintptr_t>(smem), smem ? smem_bytes : 0);
  if (!c.tls_found) {
    auto [lo, size] = module_tls_block();
    static std::atomic<bool> warned{false};
    if (size == 0 && !warned.exchange(true))
      std::fprintf(stderr, "ae::sim: racecheck cannot find this module's thread-local block: static __shared__ "
                           "memory goes unchecked (dynamic shared memory is still checked)\n");
    c.tls.cover(lo, size);
    c.skip_lo = reinterpret_cast<uintptr_t>(&t_builtins);
    c.tls_found = true;
  }
  if (c.memory) {
    c.spans = span_table();
    c.last_span = 0;
    c.last_buffer = 0;
  }
  t_active = &c;
}

void checks_end_block() {
  t_active = nullptr;
  t_checks.spans.reset();
}

void checks_switch_to(int linear, const void* stack, size_t stack_bytes) {
  WorkerChecks* c = t_active;
  if (!c) return;
  c->cur = linear;
  c->stack_lo = reinterpret_cast<uintptr_t>(stack);
  c->stack_size = stack_bytes;
}

void checks_collective(int base) {
  WorkerChecks* c = t_active;
  if (!c) return;
  c->collective_base = base;
  c->cur = base;
  c->stack_lo = 0;  // the scheduler's stack: the lanes' fragments on their own stacks are not shared
  c->stack_size = 0;
}

void checks_lane(int lane) {
  if (WorkerChecks* c = t_active) c->cur = c->collective_base + lane;
}

void checks_barrier() {
  if (WorkerChecks* c = t_active) c->next_epoch();
}

void checks_warp_sync(int base, unsigned lanes) {
  WorkerChecks* c = t_active;
  if (!c || !c->race) return;
  uint32_t join[32] = {};
  for (int l = 0; l < 32; ++l) {
    if (!(lanes >> l & 1)) continue;
    uint32_t* v = &c->vc[size_t(base + l) * 32];
    ++v[l];  // the lane's accesses so far are now behind this collective
    for (int k = 0; k < 32; ++k) join[k] = std::max(join[k], v[k]);
  }
  for (int l = 0; l < 32; ++l)
    if (lanes >> l & 1) std::memcpy(&c->vc[size_t(base + l) * 32], join, sizeof join);
}

}  // namespace ae::sim::detail

namespace ae::sim {
void set_checks(unsigned checks) { detail::g_checks = checks; }
unsigned checks() { return detail::g_checks; }
bool checks_instrumented() { return detail::g_instrumented; }
}  // namespace ae::sim

// ---- the hooks GCC's -fsanitize=thread instrumentation calls (the "runtime" it is linked with) ----
// Hidden: each module that links the sim uses its own copy, with its own per-thread state.
#define AE_TSAN_HOOK extern "C" __attribute__((visibility("hidden")))
#define AE_PC __builtin_return_address(0)
using ae::sim::detail::access;
using ae::sim::detail::atomic_access;

AE_TSAN_HOOK void __tsan_init() { ae::sim::detail::g_instrumented = true; }
AE_TSAN_HOOK void __tsan_func_entry(void*) {}
AE_TSAN_HOOK void __tsan_func_exit() {}
AE_TSAN_HOOK void __tsan_vptr_update(void** p, void*) { access(reinterpret_cast<uintptr_t>(p), sizeof(void*), true, AE_PC); }
AE_TSAN_HOOK void __tsan_vptr_read(void** p) { access(reinterpret_cast<uintptr_t>(p), sizeof(void*), false, AE_PC); }
AE_TSAN_HOOK void __tsan_read_range(void* p, unsigned long n) { access(reinterpret_cast<uintptr_t>(p), unsigned(n), false, AE_PC); }
AE_TSAN_HOOK void __tsan_write_range(void* p, unsigned long n) { access(reinterpret_cast<uintptr_t>(p), unsigned(n), true, AE_PC); }

#define AE_TSAN_PLAIN(N)                                                                                           \
  AE_TSAN_HOOK void __tsan_read##N(void* p) { access(reinterpret_cast<uintptr_t>(p), N, false, AE_PC); }           \
  AE_TSAN_HOOK void __tsan_write##N(void* p) { access(reinterpret_cast<uintptr_t>(p), N, true, AE_PC); }           \
  AE_TSAN_HOOK void __tsan_unaligned_read##N(void* p) { access(reinterpret_cast<uintptr_t>(p), N, false, AE_PC); } \
  AE_TSAN_HOOK void __tsan_unaligned_write##N(void* p) { access(reinterpret_cast<uintptr_t>(p), N, true, AE_PC); } \
  AE_TSAN_HOOK void __tsan_volatile_read##N(void* p) { access(reinterpret_cast<uintptr_t>(p), N, false, AE_PC); }  \
  AE_TSAN_HOOK void __tsan_volatile_write##N(void* p) { access(reinterpret_cast<uintptr_t>(p), N, true, AE_PC); }
AE_TSAN_PLAIN(1)
AE_TSAN_PLAIN(2)
AE_TSAN_PLAIN(4)
AE_TSAN_PLAIN(8)
AE_TSAN_PLAIN(16)
#undef AE_TSAN_PLAIN

// Atomics: performed (sequentially consistent, stronger than any order asked for), never recorded
// for racecheck, but checked by memcheck like any access.
#define AE_ATOMIC_CHECK(a) atomic_access(a, sizeof(*a), AE_PC)
#define AE_TSAN_ATOMIC(BITS, T)                                                                                   \
  AE_TSAN_HOOK T __tsan_atomic##BITS##_load(const volatile T* a, int) { AE_ATOMIC_CHECK(a); return __atomic_load_n(a, __ATOMIC_SEQ_CST); } \
  AE_TSAN_HOOK void __tsan_atomic##BITS##_store(volatile T* a, T v, int) { AE_ATOMIC_CHECK(a); __atomic_store_n(a, v, __ATOMIC_SEQ_CST); } \
  AE_TSAN_HOOK T __tsan_atomic##BITS##_exchange(volatile T* a, T v, int) { AE_ATOMIC_CHECK(a); return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); } \
  AE_TSAN_HOOK T __tsan_atomic##BITS##_fetch_add(volatile T* a, T v, int) { AE_ATOMIC_CHECK(a); return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); } \
  AE_TSAN_HOOK T __tsan_atomic##BITS##_fetch_sub(volatile T* a, T v, int) { AE_ATOMIC_CHECK(a); return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST); } \
  AE_TSAN_HOOK T __tsan_atomic##BITS##_fetch_and(volatile T* a, T v, int) { AE_ATOMIC_CHECK(a); return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST); } \
  AE_TSAN_HOOK T __tsan_atomic##BITS##_fetch_or(volatile T* a, T v, int) { AE_ATOMIC_CHECK(a); return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST); } \
  AE_TSAN_HOOK T __tsan_atomic##BITS##_fetch_xor(volatile T* a, T v, int) { AE_ATOMIC_CHECK(a); return __atomic_fetch_xor(a, v, __ATOMIC_SEQ_CST); } \
  AE_TSAN_HOOK T __tsan_atomic##BITS##_fetch_nand(volatile T* a, T v, int) { AE_ATOMIC_CHECK(a); return __atomic_fetch_nand(a, v, __ATOMIC_SEQ_CST); } \
  AE_TSAN_HOOK bool __tsan_atomic##BITS##_compare_exchange_strong(volatile T* a, T* c, T v, int, int) {          \
    AE_ATOMIC_CHECK(a);                                                                                          \
    return __atomic_compare_exchange_n(a, c, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                      \
  }                                                                                                               \
  AE_TSAN_HOOK bool __tsan_atomic##BITS##_compare_exchange_weak(volatile T* a, T* c, T v, int, int) {            \
    AE_ATOMIC_CHECK(a);                                                                                          \
    return __atomic_compare_exchange_n(a, c, v, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                       \
  }                                                                                                               \
  AE_TSAN_HOOK T __tsan_atomic##BITS##_compare_exchange_val(volatile T* a, T c, T v, int, int) {                 \
    AE_ATOMIC_CHECK(a);                                                                                          \
    __atomic_compare_exchange_n(a, &c, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                            \
    return c;                                                                                                     \
  }
AE_TSAN_ATOMIC(8, uint8_t)
AE_TSAN_ATOMIC(16, uint16_t)
AE_TSAN_ATOMIC(32, uint32_t)
AE_TSAN_ATOMIC(64, uint64_t)
#undef AE_TSAN_ATOMIC
#undef AE_ATOMIC_CHECK
AE_TSAN_HOOK void __tsan_atomic_thread_fence(int) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
AE_TSAN_HOOK void __tsan_atomic_signal_fence(int) { __atomic_signal_fence(__ATOMIC_SEQ_CST); }
