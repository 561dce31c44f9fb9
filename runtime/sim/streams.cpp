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
  unsigned flags = 0;
  bool recorded = false;  // the last record has run
  std::chrono::steady_clock::time_point time;
  // Where the last record was enqueued: complete once stream->executed >= position. nullptr:
  // never recorded, or on the default stream (complete at once).
  cudaStream_t stream = nullptr;
  uint64_t position = 0;
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

// Runs stream s's queued ops until `upto` of its history have run. Returns the first error of
// deferred work on s not yet reported (and reports it as the calling thread's last error).
cudaError_t drain(cudaStream_t s, uint64_t upto) {
  std::lock_guard<std::recursive_mutex> run(g_run_mutex);
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

cudaError_t drain_all_of(bool blocking_only) {
  std::vector<cudaStream_t> streams;
  {
    std::lock_guard<std::mutex> g(g_stream_mutex);
    for (cudaStream_t s : g_streams)
      if (!blocking_only || !(s->flags & cudaStreamNonBlocking)) streams.push_back(s);
  }
  cudaError_t first = cudaSuccess;
  for (cudaStream_t s : streams) {
    const cudaError_t e = drain(s, UINT64_MAX);
    if (first == cudaSuccess) first = e;
  }
  return first;
}

}  // namespace

bool valid_stream(cudaStream_t s) {
  if (is_default(s)) return true;
  std::lock_guard<std::mutex> g(g_stream_mutex);
  return g_streams.count(s) != 0;
}

cudaError_t enqueue(cudaStream_t s, StreamOp op) {
  if (!is_default(s) && s->capturing) {
    if (s->invalidated) return set_error(cudaErrorStreamCaptureInvalidated);
    s->graph->ops.push_back(std::move(op));
    return cudaSuccess;
  }
  if (is_default(s)) {
    // The legacy default stream waits for the blocking streams' earlier work; its own work then
    // runs now, so their later work follows it.
    if (g_deferred) drain_all_of(true);
    return set_error(op.run());
  }
  if (!g_deferred) return set_error(op.run());
  std::lock_guard<std::mutex> g(g_stream_mutex);
  s->pending.push_back(std::move(op));
  ++s->enqueued;
  return cudaSuccess;
}

cudaError_t run_after(cudaStream_t s, StreamOp op) {
  if (is_default(s) || s->capturing) return enqueue(s, std::move(op));
  if (cudaError_t e = drain(s, UINT64_MAX)) return e;
  return set_error(op.run());
}

cudaError_t synchronize_all() { return drain_all_of(false); }

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
  (*s)->flags = flags;
  std::lock_guard<std::mutex> g(ae::sim::detail::g_stream_mutex);
  ae::sim::detail::g_streams.insert(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }
cudaError_t cudaStreamCreateWithPriority(cudaStream_t* s, unsigned int flags, int) {
  return cudaStreamCreateWithFlags(s, flags);
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (ae::sim::detail::is_default(s)) return set_error(cudaErrorInvalidResourceHandle);
  if (!ae::sim::detail::valid_stream(s)) return set_error(cudaErrorInvalidResourceHandle);
  ae::sim::detail::drain(s, UINT64_MAX);  // queued work completes, as CUDA finishes it after destroy
  {
    std::lock_guard<std::mutex> g(ae::sim::detail::g_stream_mutex);
    if (!ae::sim::detail::g_streams.erase(s)) return set_error(cudaErrorInvalidResourceHandle);
  }
  delete s->graph;
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  if (!ae::sim::detail::valid_stream(s)) return set_error(cudaErrorInvalidResourceHandle);
  if (ae::sim::detail::is_default(s)) return ae::sim::detail::synchronize_all();  // legacy: the blocking streams
  if (s->capturing) return ae::sim::detail::invalidate(s, cudaErrorStreamCaptureUnsupported);
  return ae::sim::detail::drain(s, UINT64_MAX);
}
// Completes the work (rather than answering cudaErrorNotReady): a host polling in a loop must see
// progress, and the sim has no device running on its own.
cudaError_t cudaStreamQuery(cudaStream_t s) { return cudaStreamSynchronize(s); }
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int) {
  if (!ae::sim::detail::valid_stream(s) || !e) return set_error(cudaErrorInvalidResourceHandle);
  cudaStream_t target;
  uint64_t position;
  {
    std::lock_guard<std::mutex> g(ae::sim::detail::g_stream_mutex);
    if (!ae::sim::detail::g_events.count(e)) return set_error(cudaErrorInvalidResourceHandle);
    target = e->stream, position = e->position;  // the record as of now, not a later one
  }
  if (!target) return cudaSuccess;  // never recorded, or on the default stream: complete
  return ae::sim::detail::enqueue(s, {"wait event", [target, position] {
                                        return ae::sim::detail::valid_stream(target)
                                                   ? ae::sim::detail::drain(target, position)
                                                   : cudaSuccess;  // destroyed: its work has run
                                      }});
}

// ---- events ----
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int flags) {
  if (!e) return set_error(cudaErrorInvalidValue);
  *e = new CUevent_st;
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
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (!e || !ae::sim::detail::valid_stream(s)) return set_error(cudaErrorInvalidResourceHandle);
  const bool queued = !ae::sim::detail::is_default(s) && !s->capturing && ae::sim::deferred_streams();
  {
    std::lock_guard<std::mutex> g(ae::sim::detail::g_stream_mutex);
    if (!ae::sim::detail::g_events.count(e)) return set_error(cudaErrorInvalidResourceHandle);
    if (queued) {
      e->recorded = false;  // re-recording: incomplete until the new record runs
      e->stream = s;
      e->position = s->enqueued + 1;  // the record op itself, enqueued next
    } else if (ae::sim::detail::is_default(s) || !s->capturing) {
      e->stream = nullptr;
    }
  }
  return ae::sim::detail::enqueue(s, {"event record", [e] {
                                        std::lock_guard<std::mutex> g(ae::sim::detail::g_stream_mutex);
                                        if (!ae::sim::detail::g_events.count(e)) return cudaSuccess;
                                        e->recorded = true;
                                        e->time = std::chrono::steady_clock::now();
                                        return cudaSuccess;
                                      }});
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (!e) return set_error(cudaErrorInvalidResourceHandle);
  cudaStream_t target;
  uint64_t position;
  {
    std::lock_guard<std::mutex> g(ae::sim::detail::g_stream_mutex);
    if (!ae::sim::detail::g_events.count(e)) return set_error(cudaErrorInvalidResourceHandle);
    target = e->stream, position = e->position;
  }
  if (!target || !ae::sim::detail::valid_stream(target)) return cudaSuccess;
  return ae::sim::detail::drain(target, position);
}
// Completes the record's work, as cudaStreamQuery does (see there).
cudaError_t cudaEventQuery(cudaEvent_t e) { return cudaEventSynchronize(e); }
// Host wall-clock time between the two records: the sim's timings say nothing about a GPU.
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return set_error(cudaErrorInvalidValue);
  if (!start || !end || (start->flags & cudaEventDisableTiming) || (end->flags & cudaEventDisableTiming) ||
      (!start->recorded && !start->stream) || (!end->recorded && !end->stream))
    return set_error(cudaErrorInvalidResourceHandle);  // never recorded
  if (!start->recorded || !end->recorded) return set_error(cudaErrorNotReady);  // its record is still queued
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
