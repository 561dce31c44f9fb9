// Internal interface between the sim's runtime API (runtime_api.cpp) and its execution model
// (scheduler.cpp). Not for kernels or users.
#pragma once

#include <functional>
#include <string>

#include "runtime/sim/sim.h"

namespace ae::sim::detail {

// Runs every block of an already validated launch and waits for it. Returns cudaSuccess, or
// cudaErrorLaunchFailure after recording and printing the failure (see ae::sim::last_failure).
cudaError_t run_kernel(const KernelLaunch& launch);

}  // namespace ae::sim::detail

namespace ae::sim::detail {

// Records `e` as the calling host thread's last CUDA error (unless it is cudaSuccess); returns it.
cudaError_t set_error(cudaError_t e);

// One unit of stream work: runs now on an ordinary stream, or is appended to the graph of a stream
// that is capturing. `what` names it in graph dumps and errors.
struct StreamOp {
  std::string what;
  std::function<cudaError_t()> run;
};
// Queues, executes or captures `op` on `stream` (streams.cpp: in order; deferred or eager). When
// queued, *position (if given) becomes its place in the stream's history (1-based), else 0.
cudaError_t enqueue(cudaStream_t stream, StreamOp op, uint64_t* position = nullptr);
// Runs `op` now, after everything queued on `stream` (a copy to or from pageable host memory,
// which CUDA performs synchronously); captured like any op while `stream` captures.
cudaError_t run_after(cudaStream_t stream, StreamOp op);
// Runs the queued work of every stream (cudaDeviceSynchronize; the implicit sync of cudaFree), or
// of the blocking streams only (what legacy default-stream operations wait for). Return the first
// error of that work.
cudaError_t synchronize_all();
cudaError_t synchronize_blocking();
// Whether `stream` is a live stream handle (the legacy and per-thread default streams included).
bool valid_stream(cudaStream_t stream);

}  // namespace ae::sim::detail
