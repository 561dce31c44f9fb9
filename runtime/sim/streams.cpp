// Streams, events and graphs of the sim's CUDA runtime. Work on a created stream is queued and run
// only when the host needs it (deferred, the default: the laziest legal schedule of CUDA's
// asynchronous streams, so a missing synchronization reads stale data), or at enqueue (eager,
// AE_SIM_STREAMS=eager). The legacy default stream runs work at enqueue, after the queued work of
// every blocking stream. A capturing stream appends the work to its graph, and cudaGraphLaunch
// enqueues the recorded work (kernel arguments as captured, by value).
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/sim/scheduler.h"

struct CUgraph_st {
  std::vector<ae::sim::detail::StreamOp> ops;
};
struct CUgraphExec_st {
  std::vector<ae::sim::detail::StreamOp> ops;
};
struct CUstream_st {
  uint64_t id = 0;  // unique for the process: a queued wait never mistakes a new stream at a reused address
  unsigned flags = 0;
  bool capturing = false;
  bool invalidated = false;
  CUgraph_st* graph = nullptr;
  std::thread::id capture_thread;
  // Deferred work: ops [executed, enqueued) of the stream's history wait in `pending`.
  std::deque<ae::sim::detail::StreamOp> pending;
  uint64_t enqueued = 0, executed = 0;
  cudaError_t failed = cudaSuccess;  // first error of deferred work, returned by the next sync
};
struct CUevent_st {
  uint64_t id = 0;       // unique for the process (see CUstream_st::id)
  unsigned flags = 0;
  uint64_t records = 0;  // cudaEventRecord calls outside capture: 0 = never recorded
  bool recorded = false;  // the latest record has run (an earlier, overtaken one does not count)
  std::chrono::steady_clock::time_point time;
  // Where the latest record was queued: complete once that stream has executed `position` ops.
  // stream nullptr: recorded at once (default stream, eager mode), or never.
  cudaStream_t stream = nullptr;
  uint64_t stream_id = 0;
  uint64_t position = 0;
  cudaStream_t captured_on = nullptr;  // recorded inside this stream's capture (no node, no time)
};

namespace ae::sim::detail {
namespace {

std::mutex g_stream_mutex;  // the stream and event sets, and every stream's queue and counters
std::set<cudaStream_t> g_streams;
std::set<cudaEvent_t> g_events;
// Held while deferred work runs, so two host threads never run one stream's ops out of order. A
// drain that waits on another stream's event re-enters it (the event's position is always behind
// the current op of any stream that waits on it, so a re-entrant drain never runs ahead).
std::recursive_mutex g_run_mutex;
std::atomic<bool> g_deferred{[] {
  const char* s = std::getenv("AE_SIM_STREAMS");
  return !(s && std::strcmp(s, "eager") == 0);
}()};

bool is_default(cudaStream_t s) { return s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread; }

// Ends a capture in error, as the real runtime does when a capturing stream is misused.
cudaError_t invalidate(cudaStream_t s, cudaError_t e) {
  if (!is_default(s) && s->capturing) s->invalidated = true;
  return set_error(e);
}

// Runs the queued ops of stream s (if it is still the stream with this id) until `upto` of its
// history have run. Returns the first error of deferred work on s not yet reported (also as the
// calling thread's last error). Stream destruction holds g_run_mutex too, so s cannot vanish here.
cudaError_t drain_stream(cudaStream_t s, uint64_t id, uint64_t upto) {
  std::lock_guard<std::recursive_mutex> run(g_run_mutex);
  {
    std::lock_guard<std::mutex> g(g_stream_mutex);
    if (!g_streams.count(s) || s->id != id) return cudaSuccess;  // destroyed: its work has run
  }
  for (;;) {
    StreamOp op;
    {
      std::lock_guard<std::mutex> g(g_stream_mutex);
      if (s->executed >= upto || s->pending.empty()) break;
      op = std::move(s->pending.front());
      s->pending.pop_front();
    }
    const cudaError_t e = op.run();
    std::lock_guard<std::mutex> g(g_stream_mutex);
    ++s->executed;
    if (e != cudaSuccess && s->failed == cudaSuccess) s->failed = e;
  }
  std::lock_guard<std::mutex> g(g_stream_mutex);
  return set_error(std::exchange(s->failed, cudaSuccess));
}

// drain_stream for a live handle the caller holds.
cudaError_t drain(cudaStream_t s, uint64_t upto) {
  uint64_t id;
  {
    std::lock_guard<std::mutex> g(g_stream_mutex);
    if (!g_streams.count(s)) return cudaSuccess;
    id = s->id;
  }
  return drain_stream(s, id, upto);
}

cudaError_t drain_all_of(bool blocking_only) {
  std::vector<std::pair<cudaStream_t, uint64_t>> streams;
  {
    std::lock_guard<std::mutex> g(g_stream_mutex);
    for (cudaStream_t s : g_streams)
      if (!blocking_only || !(s->flags & cudaStreamNonBlocking)) streams.emplace_back(s, s->id);
  }
  cudaError_t first = cudaSuccess;
  for (const auto& [s, id] : streams) {
    const cudaError_t e = drain_stream(s, id, UINT64_MAX);
    if (first == cudaSuccess) first = e;
  }
  return first;
}

uint64_t next_id() {
  static std::atomic<uint64_t> id{0};
  return ++id;
}

}  // namespace

bool valid_stream(cudaStream_t s) {
  if (is_default(s)) return true;
  std::lock_guard<std::mutex> g(g_stream_mutex);
  return g_streams.count(s) != 0;
}

cudaError_t enqueue(cudaStream_t s, StreamOp op, uint64_t* position) {
  if (position) *position = 0;
  if (!is_default(s) && s->capturing) {
    if (s->invalidated) return set_error(cudaErrorStreamCaptureInvalidated);
    s->graph->ops.push_back(std::move(op));
    return cudaSuccess;
  }
  if (is_default(s)) {
    // The legacy default stream waits for the blocking streams' earlier work (an error there is
    // this call's error, as on a GPU); its own work then runs now, so their later work follows it.
    const cudaError_t before = g_deferred ? drain_all_of(true) : cudaSuccess;
    const cudaError_t e = op.run();
    return set_error(before != cudaSuccess ? before : e);
  }
  if (!g_deferred) return set_error(op.run());
  std::lock_guard<std::mutex> g(g_stream_mutex);
  s->pending.push_back(std::move(op));
  ++s->enqueued;
  if (position) *position = s->enqueued;
  return cudaSuccess;
}

cudaError_t run_after(cudaStream_t s, StreamOp op) {
  if (is_default(s) || s->capturing) return enqueue(s, std::move(op));
  if (cudaError_t e = drain(s, UINT64_MAX)) return e;
  return set_error(op.run());
}

cudaError_t synchronize_all() { return drain_all_of(false); }
cudaError_t synchronize_blocking() { return drain_all_of(true); }

}  // namespace ae::sim::detail

namespace ae::sim {
void set_deferred_streams(bool on) {
  if (!on) detail::synchronize_all();  // nothing stays queued when work starts to run at enqueue
  detail::g_deferred = on;
}
bool deferred_streams() { return detail::g_deferred; }
}  // namespace ae::sim

using ae::sim::detail::set_error;

// ---- streams ----
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int flags) {
  if (!s) return set_error(cudaErrorInvalidValue);
  *s = new CUstream_st;
  (*s)->id = ae::sim::detail::next_id();
  (*s)->flags = flags;
  std::lock_guard<std::mutex> g(ae::sim::detail::g_stream_mutex);
  ae::sim::detail::g_streams.insert(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }
cudaError_t cudaStreamCreateWithPriority(cudaStream_t* s, unsigned int flags, int) {
  return cudaStreamCreateWithFlags(s, flags);
}
// Queued work completes first (CUDA finishes it after the destroy returns); an error of that work
// is this call's error. No other thread can be running the stream's work meanwhile (g_run_mutex).
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  using namespace ae::sim::detail;
  if (is_default(s) || !valid_stream(s)) return set_error(cudaErrorInvalidResourceHandle);
  std::lock_guard<std::recursive_mutex> run(g_run_mutex);
  const cudaError_t e = drain(s, UINT64_MAX);
  {
    std::lock_guard<std::mutex> g(g_stream_mutex);
    if (!g_streams.erase(s)) return set_error(cudaErrorInvalidResourceHandle);
  }
  delete s->graph;
  delete s;
  return e;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  using namespace ae::sim::detail;
  if (!valid_stream(s)) return set_error(cudaErrorInvalidResourceHandle);
  if (is_default(s)) return synchronize_blocking();  // legacy stream: non-blocking streams are not its business
  if (s->capturing) return invalidate(s, cudaErrorStreamCaptureUnsupported);
  return drain(s, UINT64_MAX);
}
// Completes the work (rather than answering cudaErrorNotReady): a host polling in a loop must see
// progress, and the sim has no device running on its own.
cudaError_t cudaStreamQuery(cudaStream_t s) { return cudaStreamSynchronize(s); }
// Waits for the event's latest record as of this call. During a capture the sim supports waiting
// only on a record made in the same stream's capture (implicitly ordered); an event recorded
// outside the capture is refused as CUDA refuses it without cudaEventWaitExternal.
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int) {
  using namespace ae::sim::detail;
  if (!valid_stream(s) || !e) return set_error(cudaErrorInvalidResourceHandle);
  cudaStream_t target;
  uint64_t target_id, position;
  {
    std::lock_guard<std::mutex> g(g_stream_mutex);
    if (!g_events.count(e)) return set_error(cudaErrorInvalidResourceHandle);
    if (!is_default(s) && s->capturing) {
      if (e->captured_on == s || e->records == 0) return cudaSuccess;
      s->invalidated = true;
      return set_error(cudaErrorStreamCaptureIsolation);
    }
    target = e->stream, target_id = e->stream_id, position = e->position;
  }
  if (!target) return cudaSuccess;  // never recorded, or recorded at once: complete
  return enqueue(s, {"wait event", [target, target_id, position] { return drain_stream(target, target_id, position); }});
}

// ---- events ----
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int flags) {
  if (!e) return set_error(cudaErrorInvalidValue);
  *e = new CUevent_st;
  (*e)->id = ae::sim::detail::next_id();
  (*e)->flags = flags;
  std::lock_guard<std::mutex> g(ae::sim::detail::g_stream_mutex);
  ae::sim::detail::g_events.insert(*e);
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }
// A record still queued when its event is destroyed finds the event gone and does nothing.
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  std::lock_guard<std::mutex> g(ae::sim::detail::g_stream_mutex);
  if (!e || !ae::sim::detail::g_events.erase(e)) return set_error(cudaErrorInvalidResourceHandle);
  delete e;
  return cudaSuccess;
}
// Inside a capture a record only orders the capture (CUDA adds no node that the host could wait
// for or time; cudaEventRecordExternal would). Otherwise the record is queued like any work; a
// later record overtakes it (the event then completes with the later one only).
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  using namespace ae::sim::detail;
  if (!e || !valid_stream(s)) return set_error(cudaErrorInvalidResourceHandle);
  uint64_t event_id, count;
  {
    std::lock_guard<std::mutex> g(g_stream_mutex);
    if (!g_events.count(e)) return set_error(cudaErrorInvalidResourceHandle);
    if (!is_default(s) && s->capturing) {
      e->captured_on = s;
      return s->invalidated ? set_error(cudaErrorStreamCaptureInvalidated) : cudaSuccess;
    }
    event_id = e->id;
    count = ++e->records;
    e->recorded = false;
    e->captured_on = nullptr;
    e->stream = nullptr;
  }
  uint64_t position = 0;
  const cudaError_t err = enqueue(s, {"event record", [e, event_id, count] {
                                        std::lock_guard<std::mutex> g(g_stream_mutex);
                                        if (g_events.count(e) && e->id == event_id && e->records == count) {
                                          e->recorded = true;
                                          e->time = std::chrono::steady_clock::now();
                                        }
                                        return cudaSuccess;
                                      }},
                                  &position);
  std::lock_guard<std::mutex> g(g_stream_mutex);
  if (position && g_events.count(e) && e->records == count && !e->recorded) {
    e->stream = s;
    e->stream_id = s->id;
    e->position = position;
  }
  return err;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  using namespace ae::sim::detail;
  if (!e) return set_error(cudaErrorInvalidResourceHandle);
  cudaStream_t target;
  uint64_t target_id, position;
  {
    std::lock_guard<std::mutex> g(g_stream_mutex);
    if (!g_events.count(e)) return set_error(cudaErrorInvalidResourceHandle);
    target = e->stream, target_id = e->stream_id, position = e->position;
  }
  return target ? drain_stream(target, target_id, position) : cudaSuccess;
}
// Completes the record's work, as cudaStreamQuery does (see there).
cudaError_t cudaEventQuery(cudaEvent_t e) { return cudaEventSynchronize(e); }
// Host wall-clock time between the two records: the sim's timings say nothing about a GPU.
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  using namespace ae::sim::detail;
  if (!ms) return set_error(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> g(g_stream_mutex);
  if (!start || !end || !g_events.count(start) || !g_events.count(end) || (start->flags & cudaEventDisableTiming) ||
      (end->flags & cudaEventDisableTiming) || start->records == 0 || end->records == 0)
    return set_error(cudaErrorInvalidResourceHandle);  // never recorded (outside a capture)
  if (!start->recorded || !end->recorded) return set_error(cudaErrorNotReady);  // the latest record is queued
  *ms = std::chrono::duration<float, std::milli>(end->time - start->time).count();
  return cudaSuccess;
}

// ---- graphs ----
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  if (ae::sim::detail::is_default(s)) return set_error(cudaErrorStreamCaptureUnsupported);  // legacy stream
  if (!ae::sim::detail::valid_stream(s)) return set_error(cudaErrorInvalidResourceHandle);
  if (s->capturing) return set_error(cudaErrorIllegalState);
  s->capturing = true;
  s->invalidated = false;
  s->graph = new CUgraph_st;
  s->capture_thread = std::this_thread::get_id();
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph) {
  if (!graph) return set_error(cudaErrorInvalidValue);
  *graph = nullptr;
  if (ae::sim::detail::is_default(s) || !ae::sim::detail::valid_stream(s) || !s->capturing)
    return set_error(cudaErrorIllegalState);
  s->capturing = false;
  if (s->invalidated) {
    delete s->graph;
    s->graph = nullptr;
    return set_error(cudaErrorStreamCaptureInvalidated);
  }
  *graph = s->graph;
  s->graph = nullptr;
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* status) {
  if (!status) return set_error(cudaErrorInvalidValue);
  if (!ae::sim::detail::valid_stream(s)) return set_error(cudaErrorInvalidResourceHandle);
  bool on = !ae::sim::detail::is_default(s) && s->capturing;
  *status = !on ? cudaStreamCaptureStatusNone
                : (s->invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive);
  return cudaSuccess;
}
cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t* nodes, size_t* count) {
  if (!graph || !count) return set_error(cudaErrorInvalidValue);
  if (nodes) {
    for (size_t i = 0; i < *count && i < graph->ops.size(); ++i)
      nodes[i] = reinterpret_cast<cudaGraphNode_t>(&graph->ops[i]);  // opaque handles
  }
  *count = graph->ops.size();
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (!exec || !graph) return set_error(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{graph->ops};
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s) {
  if (!exec) return set_error(cudaErrorInvalidValue);
  if (!ae::sim::detail::valid_stream(s)) return set_error(cudaErrorInvalidResourceHandle);
  for (const auto& op : exec->ops)
    if (cudaError_t e = ae::sim::detail::enqueue(s, op)) return e;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}
