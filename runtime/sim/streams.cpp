// Streams, events and graphs of the sim's CUDA runtime. Work on a stream runs at enqueue, which is
// one valid schedule of CUDA's in-order streams; a capturing stream instead appends the work to its
// graph, and cudaGraphLaunch replays the recorded work (kernel arguments as captured, by value).
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
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
};
struct CUevent_st {
  unsigned flags = 0;
  bool recorded = false;
  std::chrono::steady_clock::time_point time;
};

namespace ae::sim::detail {
namespace {

std::mutex g_stream_mutex;
std::set<cudaStream_t> g_streams;
std::set<cudaEvent_t> g_events;

bool is_default(cudaStream_t s) { return s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread; }

// Ends a capture in error, as the real runtime does when a capturing stream is misused.
cudaError_t invalidate(cudaStream_t s, cudaError_t e) {
  if (!is_default(s) && s->capturing) s->invalidated = true;
  return set_error(e);
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
  return set_error(op.run());
}

}  // namespace ae::sim::detail

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
  if (!ae::sim::detail::is_default(s) && s->capturing)
    return ae::sim::detail::invalidate(s, cudaErrorStreamCaptureUnsupported);
  return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t s) { return cudaStreamSynchronize(s); }
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int) {
  if (!ae::sim::detail::valid_stream(s) || !e) return set_error(cudaErrorInvalidResourceHandle);
  return cudaSuccess;  // everything enqueued before the record has already run
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
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  std::lock_guard<std::mutex> g(ae::sim::detail::g_stream_mutex);
  if (!e || !ae::sim::detail::g_events.erase(e)) return set_error(cudaErrorInvalidResourceHandle);
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (!e || !ae::sim::detail::valid_stream(s)) return set_error(cudaErrorInvalidResourceHandle);
  return ae::sim::detail::enqueue(s, {"event record", [e] {
                                        e->recorded = true;
                                        e->time = std::chrono::steady_clock::now();
                                        return cudaSuccess;
                                      }});
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) { return e ? cudaSuccess : set_error(cudaErrorInvalidResourceHandle); }
cudaError_t cudaEventQuery(cudaEvent_t e) { return e ? cudaSuccess : set_error(cudaErrorInvalidResourceHandle); }
// Host wall-clock time between the two records: the sim's timings say nothing about a GPU.
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return set_error(cudaErrorInvalidValue);
  if (!start || !end || (start->flags & cudaEventDisableTiming) || (end->flags & cudaEventDisableTiming) ||
      !start->recorded || !end->recorded)
    return set_error(cudaErrorInvalidResourceHandle);
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
