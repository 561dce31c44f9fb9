// Mixed precision as a property of the Plan (issue 13), in the manner of PyTorch AMP's op lists:
// each Plan op kind says, per operand, whether it takes the plan's compute dtype (bf16/f16), only
// fp32, or either. Tensors take the dtype their producer writes, parameters read by a compute
// operand are replaced by their compute copy (a param_copy the optimizer step writes as it updates
// the fp32 master), and wherever an operand meets a tensor of the other dtype a cast op is put in
// front of it. So any graph runs in any precision: ops without low-precision kernels simply stay
// fp32 behind casts, and giving a kind low-precision kernels is one line of the table below.
//
// Policy (the AMP / llm.c one): GEMMs read bf16 operands and accumulate in fp32; parameters, their
// gradients, optimizer state, losses, per-sample errors and every penalty stay fp32. The host's
// inputs are stored in the compute dtype when every reader takes it (the executor converts the
// caller's fp32 rows, which it keeps outside the arena, as a batch starts), so the arena does not
// hold the data's largest tensor twice.
//
// fp16 train plans also scale the loss (torch.amp.GradScaler's dynamic scaling): every gradient
// seed (the loss's and each term's gradient fill) is multiplied by the scale, so small gradients survive
// fp16; each optimizer step is preceded by unscale_grads, which divides its group's fp32 gradients
// by the scale and flags a step whose gradients overflowed; the step then changes nothing, and a
// last update_scale halves the scale after a flagged step or doubles it after 2000 clean ones. The
// state lives in the parameter store (TensorRole::loss_scale) and is kept on the device, so a
// captured graph replays it correctly. Each training phase (an adversarial autoencoder has three)
// has a state of its own, as PyTorch code gives each optimizer its own GradScaler: one phase's
// overflow does not shrink another's scale, and each counts its own clean steps.
#include <map>
#include <set>
#include <utility>

#include "graph/plan.h"
#include "kernels/common/error.h"

namespace ae {

namespace {

// What dtype an operand of an op accepts.
enum class Slot : uint8_t {
  f32,      // fp32 only
  compute,  // the plan's compute dtype only (a GEMM operand, or a tensor the op writes in it)
  either,   // fp32 or the compute dtype: the kernel reads (or writes) both
};

// The operand rules of one Plan op kind; ops whose kind has none run wholly in fp32.
struct SlotRule {
  PlanOpKind kind;
  bool (*applies)(const PlanOp& op);  // the variants the low-precision kernels cover
  std::vector<Slot> in, out;          // per operand; operands past the end are fp32
};

// Dense ops with a penalty or a corruption fused in keep fp32: those epilogues read fp32 today.
bool plain_dense(const PlanOp& op) { return is_plain_dense(op); }
bool always(const PlanOp&) { return true; }

constexpr Slot F = Slot::f32, C = Slot::compute, E = Slot::either;
const std::vector<SlotRule>& slot_rules() {
  static const std::vector<SlotRule> rules = {
      // in {x, W, b}  out {y, z}
      {PlanOpKind::dense_fwd, plain_dense, {C, C, F}, {C, C}},
      // in {dy (dz written over it), y, z, x, W}  out {dW, db, dx}: parameter gradients stay fp32
      {PlanOpKind::dense_bwd, plain_dense, {C, C, C, C, C}, {F, F, C}},
      // in {pred, target}  out {loss, per_sample[, dpred]}: the loss is summed in fp32 and double
      {PlanOpKind::loss_fwd, always, {C, E}, {F, F}},
      {PlanOpKind::loss_fwd_bwd, always, {C, E}, {F, F, C}},
  };
  return rules;
}

const SlotRule* rule_for(const PlanOp& op) {
  for (const SlotRule& r : slot_rules())
    if (r.kind == op.kind && r.applies(op)) return &r;
  return nullptr;
}

Slot slot_of(const SlotRule* r, const std::vector<Slot>& slots, size_t i) {
  return r && i < slots.size() ? slots[i] : Slot::f32;
}

bool accepts(Slot s, DType have, DType compute) {
  return s == Slot::either || (s == Slot::f32 ? have == DType::f32 : have == compute);
}

class PrecisionPass {
 public:
  PrecisionPass(Plan& plan, DType compute) : m_plan(plan), m_g(plan.graph), m_compute(compute) {}

  void run() {
    assign_inputs();
    std::vector<PlanOp> ops;
    ops.reserve(m_plan.ops.size());
    for (PlanOp& op : m_plan.ops) {
      const SlotRule* r = rule_for(op);
      for (size_t i = 0; i < op.in.size(); ++i) {
        const int t = op.in[i];
        if (t < 0) continue;
        const Slot s = slot_of(r, r ? r->in : m_none, i);
        if (accepts(s, m_g.tensors[size_t(t)].dtype, m_compute)) continue;
        op.in[i] = converted(t, s == Slot::f32 ? DType::f32 : m_compute, op, ops);
      }
      for (size_t i = 0; i < op.out.size(); ++i) {
        const int t = op.out[i];
        if (t < 0) continue;
        Tensor& ten = m_g.tensors[size_t(t)];
        const Slot s = slot_of(r, r ? r->out : m_none, i);
        const DType want = s == Slot::compute ? m_compute : DType::f32;
        if (ten.role == TensorRole::param_grad) {  // never low precision: they feed the fp32 update
          AE_CHECK(s != Slot::compute, "precision: ", plan_op_kind_name(op.kind), " would write gradient ", ten.name, " in ",
                   dtype_name(m_compute));
          continue;
        }
        AE_CHECK(!m_written.count(t) || ten.dtype == want, "precision: tensor ", ten.name, " written in two dtypes");
        ten.dtype = want;
        m_written.insert(t);
      }
      // An output that takes over an input's block in place needs the same element size.
      if (op.inplace.first >= 0) {
        const int o = op.out[size_t(op.inplace.first)], in = op.in[size_t(op.inplace.second)];
        if (o < 0 || in < 0 || m_g.tensors[size_t(o)].dtype != m_g.tensors[size_t(in)].dtype) op.inplace = {-1, -1};
      }
      if (op.kind == PlanOpKind::optimizer_step) write_copies(op);
      ops.push_back(std::move(op));
    }
    m_plan.ops = std::move(ops);
    m_plan.precision = m_compute;
    if (m_compute == DType::f16) scale_loss();
  }

 private:
  // A host input is stored in the compute dtype when every op that reads it takes that dtype.
  void assign_inputs() {
    for (int t : m_g.inputs) {
      bool all = false;
      for (const PlanOp& op : m_plan.ops) {
        const SlotRule* r = rule_for(op);
        for (size_t i = 0; i < op.in.size(); ++i) {
          if (op.in[i] != t) continue;
          const Slot s = slot_of(r, r ? r->in : m_none, i);
          if (s == Slot::f32) goto next;
          all = all || s == Slot::compute;  // at least one reader computes in it: worth storing so
        }
      }
      if (all) m_g.tensors[size_t(t)].dtype = m_compute;
    next:;
    }
  }

  // Tensor t as `to`: a parameter's compute copy, or a cast op (one per tensor and dtype, put
  // before its first reader; later readers share it).
  int converted(int t, DType to, const PlanOp& reader, std::vector<PlanOp>& ops) {
    const Tensor& src = m_g.tensors[size_t(t)];
    if (src.role == TensorRole::param && to == m_compute) return param_copy(t);
    AE_CHECK(src.role != TensorRole::param_grad && src.role != TensorRole::param,
             "precision: ", plan_op_kind_name(reader.kind), " reads ", src.name, " in ", dtype_name(to));
    auto key = std::make_pair(t, to);
    if (auto it = m_casts.find(key); it != m_casts.end()) return it->second;
    Tensor y = src;
    y.name = std::string(dtype_name(to)) + "(" + src.name + ")";
    y.dtype = to;
    y.role = src.role == TensorRole::gradient ? TensorRole::gradient : TensorRole::activation;
    const int id = int(m_g.tensors.size());
    m_g.tensors.push_back(std::move(y));
    PlanOp cast{PlanOpKind::cast, "precision: " + std::string(dtype_name(src.dtype)) + "→" + dtype_name(to)};
    cast.in = {t};
    cast.out = {id};
    cast.layer = reader.layer;
    ops.push_back(std::move(cast));
    m_casts.emplace(key, id);
    return id;
  }

  int param_copy(int t) {
    if (auto it = m_copies.find(t); it != m_copies.end()) return it->second;
    Tensor c = m_g.tensors[size_t(t)];
    c.name = std::string(dtype_name(m_compute)) + "(" + c.name + ")";
    c.role = TensorRole::param_copy;
    c.dtype = m_compute;
    const int id = int(m_g.tensors.size());
    m_g.tensors.push_back(std::move(c));
    m_copies.emplace(t, id);
    return id;
  }

  // The step updating a parameter also writes its compute copy (out[i]: in[2i]'s), whether or not
  // this plan reads it: another plan (a second phase, an encoder) may, and the copies are only ever
  // refreshed wholesale when the host writes values (ParamStore::refresh_copies).
  void write_copies(PlanOp& op) {
    op.out.clear();
    for (size_t i = 0; i < op.in.size(); i += 2) op.out.push_back(param_copy(op.in[i]));
  }

  // fp16 train plans: seeds scaled, each optimizer step behind an unscale, one update at the end.
  void scale_loss() {
    bool trains = false;
    for (const PlanOp& op : m_plan.ops) trains = trains || op.kind == PlanOpKind::optimizer_step;
    if (!trains) return;
    const int state = m_g.add_tensor(fixed_tensor("loss scale (phase " + std::to_string(m_g.phase) + ")",
                                                   TensorRole::loss_scale, {4}));
    m_plan.loss_scale = state;
    std::vector<PlanOp> ops;
    int last_step = -1;
    for (PlanOp& op : m_plan.ops) {
      // Seeds: the loss's gradient, and a term's gradient fill (autodiff's; a forward fill such as
      // the contractive penalty's ones is an activation).
      const bool seed_fill = op.kind == PlanOpKind::fill && m_g.tensors[size_t(op.out[0])].role == TensorRole::gradient;
      if (op.kind == PlanOpKind::loss_fwd_bwd || seed_fill) op.loss_scale = state;
      if (op.kind == PlanOpKind::optimizer_step) {
        PlanOp unscale{PlanOpKind::unscale_grads, "loss scaling: unscale before the step"};
        for (size_t i = 1; i < op.in.size(); i += 2) unscale.in.push_back(op.in[i]);
        unscale.loss_scale = state;
        unscale.attr.group = op.attr.group;
        ops.push_back(std::move(unscale));
        op.loss_scale = state;
        last_step = int(ops.size());
      }
      ops.push_back(std::move(op));
    }
    PlanOp update{PlanOpKind::update_scale, "loss scaling: grow or back off"};
    update.loss_scale = state;
    ops.insert(ops.begin() + last_step + 1, std::move(update));
    m_plan.ops = std::move(ops);
  }

  Plan& m_plan;
  Graph& m_g;
  DType m_compute;
  const std::vector<Slot> m_none;
  std::map<std::pair<int, DType>, int> m_casts;  // (tensor, dtype) → its cast
  std::map<int, int> m_copies;                   // param tensor → its compute copy
  std::set<int> m_written;  // tensors an op has written so far
};

}  // namespace

void apply_precision(Plan& plan, DType compute) {
  AE_CHECK(compute != DType::f32, "apply_precision: fp32 is the plan's default and needs no pass");
  PrecisionPass(plan, compute).run();
}

}  // namespace ae
