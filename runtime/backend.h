// The backend interface and registry. A backend runs Plan ops on memory the Executor owns.
// The public, non-virtual run() validates an op once (supported? operands present and sized?)
// and then calls the backend's run_op(). `cpu` is the reference every other backend is checked
// against; `cuda` and `cuda-sim` register here when they are built.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "graph/plan.h"
#include "kernels/cpu/optimizer.h"
#include "runtime/params.h"

namespace ae {

// What one op needs to run: pointers for tensor ids, the actual batch, the optimizer.
struct OpContext {
  const Plan* plan = nullptr;
  std::function<float*(int tensor)> ptr;   // arena or parameter store; nullptr for -1
  ParamStore* params = nullptr;
  int64_t batch = 0;                       // rows in this run, 1 ≤ batch ≤ plan->batch
  const cpu::OptConfig* opt = nullptr;     // train plans only
  int64_t step = 0;                        // 1-based optimizer step
  double loss = 0;                         // written by loss ops (double precision)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;   // kernels/libraries it runs on
  virtual bool supports(const PlanOp& op) const = 0;
  void run(const PlanOp& op, OpContext& ctx);    // validates, then run_op

 protected:
  virtual void run_op(const PlanOp& op, OpContext& ctx) = 0;
};

using BackendFactory = std::function<std::unique_ptr<Backend>()>;
void register_backend(const std::string& name, BackendFactory factory, std::function<bool()> available);
// "auto" picks cuda when a device is present, else cpu. Unknown or unavailable names are errors
// that list what this build has.
std::unique_ptr<Backend> make_backend(const std::string& name);
std::vector<std::string> backend_names();

}  // namespace ae
