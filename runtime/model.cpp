// Model and checkpoint files: creation, saving and loading with full validation.
#include "runtime/model.h"

#include <cmath>
#include <cstring>
#include <set>

#include "graph/param_registry.h"
#include "graph/json_text.h"
#include "kernels/common/error.h"
#include "kernels/cpu/init.h"
#include "runtime/model_file.h"

namespace ae {

Model Model::create(const Spec& spec, uint64_t seed, Loss loss) {
  Model m;
  m.spec = spec;
  m.seed = seed;
  m.loss = loss;
  m.params = ParamStore(ParamStore::infos_for(spec), 0);  // zero
  // Each weight by its owning layer's scheme, keyed by that layer; biases stay zero.
  for (const ParamDef& p : param_registry(spec).params)
    if (p.kind == ParamKind::weight)
      cpu::init_weight(p.init_act, p.size(), p.fan_in(), p.fan_out(), seed, uint32_t(p.layer),
                       m.params.value(size_t(m.params.index_of(p.name))));
  m.params.bump_version();  // values written after the store was made
  return m;
}

void Model::ensure_state_slots(int slots) {
  if (params.state_slots() == slots) return;
  ParamStore fresh(ParamStore::infos_for(spec), slots);
  for (size_t i = 0; i < params.count(); ++i)
    std::memcpy(fresh.value(i), params.value(i), size_t(params.info(i).size()) * sizeof(float));
  params = std::move(fresh);
}

namespace {

const std::vector<int64_t>& torch_shape(const ParamInfo& p) { return p.dims; }

void add_tensor(ModelFile& f, const std::string& name, std::vector<int64_t> shape, const float* data, int64_t n,
                DType stored = DType::f32) {
  NamedTensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.data.assign(data, data + n);
  t.dtype = stored;
  f.tensors.push_back(std::move(t));
}

// The file tensors of a parameter: itself, or its equal row blocks under their own names (a VAE's
// heads), each with its PyTorch shape and offset into the parameter.
struct FilePart {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0, size = 0;
};
std::vector<FilePart> file_parts(const ParamInfo& p) {
  if (p.file_names.empty()) return {{p.name, p.dims, 0, p.size()}};
  const int64_t k = int64_t(p.file_names.size());
  std::vector<int64_t> shape = p.dims;
  AE_CHECK(shape[0] % k == 0, "parameter ", p.name, ": ", shape[0], " rows do not split into ", k, " file tensors");
  shape[0] /= k;
  std::vector<FilePart> out;
  for (int64_t i = 0; i < k; ++i) out.push_back({p.file_names[size_t(i)], shape, i * (p.size() / k), p.size() / k});
  return out;
}

// The checkpoint name of slot s of param i's state block k: its first group's state is
// optimizer.<name>.<slot> (as before groups could share a parameter), another group's
// optimizer.g<group>.<name>.<slot>.
std::string state_tensor_name(const ParamStore& store, size_t i, size_t k, int slot) {
  const std::string group = k == 0 ? "" : "g" + std::to_string(store.state_group(i, k)) + ".";
  return "optimizer." + group + store.info(i).name + "." + std::to_string(slot);
}

// weights: the dtype the parameters are stored in (m.save_dtype, or fp32 for a checkpoint).
ModelFile to_file(const Model& m, DType weights) {
  ModelFile f;
  for (size_t i = 0; i < m.params.count(); ++i)
    for (const FilePart& part : file_parts(m.params.info(i)))
      add_tensor(f, part.name, part.shape, m.params.value(i) + part.offset, part.size, weights);
  f.metadata["format"] = "ae";
  f.metadata["ae.format_version"] = std::to_string(MODEL_FORMAT_VERSION);
  f.metadata["ae.spec"] = m.spec.to_json().dump();
  f.metadata["ae.spec_compact"] = m.spec.to_compact();
  f.metadata["ae.loss"] = loss_name(m.loss);
  f.metadata["ae.precision"] = precision_name(m.precision);
  f.metadata["ae.save_dtype"] = precision_name(weights);
  f.metadata["ae.step"] = std::to_string(m.step);
  f.metadata["ae.epoch"] = std::to_string(m.epoch);
  f.metadata["ae.rng"] = nlohmann::json{{"algorithm", "philox4x32-10"}, {"seed", m.seed}, {"step", m.step}, {"epoch", m.epoch}}.dump();
  f.metadata["ae.normalization"] = m.norm.to_json().dump();
  f.metadata["ae.threshold"] = m.threshold.dump();
  f.metadata["ae.history"] = m.history.dump();
  f.metadata["ae.optimizer"] = m.optimizer.dump();
  f.metadata["ae.data"] = m.data.dump();
  if (!m.code_median.empty())
    f.metadata["ae.code_stats"] =
        nlohmann::json{{"median", m.code_median}, {"std", m.code_std}, {"rows", m.code_stats_rows}, {"mode", "encode"}}.dump();
  return f;
}

const std::string& meta(const ModelFile& f, const std::string& path, const std::string& key) {
  auto it = f.metadata.find(key);
  if (it == f.metadata.end()) AE_FAIL(path, ": not an ae model: __metadata__ has no '", key, "'");
  return it->second;
}

// ae's metadata records nest 3 deep. nlohmann's dump() (in messages) recurses per level, so a
// record of "[[[[..." overflowed the stack (SIGSEGV): deeper records are refused while parsing.
constexpr int k_max_json_depth = 64;

nlohmann::json meta_json(const ModelFile& f, const std::string& path, const std::string& key) {
  const std::string& text = meta(f, path, key);
  if (const std::string nul = json_nul_failure(text); !nul.empty())
    AE_FAIL(path, ": __metadata__ field '", key, "' holds ", nul);
  using json = nlohmann::json;
  try {
    return json::parse(text, [&](int depth, json::parse_event_t event, json&) {
      using Event = json::parse_event_t;
      if (depth >= k_max_json_depth && (event == Event::object_start || event == Event::array_start))
        AE_FAIL(path, ": __metadata__ field '", key, "' holds invalid JSON: nested deeper than ", k_max_json_depth,
                " levels");
      return true;
    });
  } catch (const json::exception& e) {  // the offset is into the field's text
    AE_FAIL(path, ": __metadata__ field '", key, "' holds ", json_parse_failure(e, text));
  }
}

int64_t meta_int(const ModelFile& f, const std::string& path, const std::string& key) {
  const std::string& s = meta(f, path, key);
  try {
    size_t used = 0;
    int64_t v = std::stoll(s, &used);
    if (used == s.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  AE_FAIL(path, ": __metadata__ field '", key, "' must be a non-negative integer, got ", quote_bytes(s, 40, '\''));
}

// A dtype field (ae.precision, ae.save_dtype): fp32, bf16 or fp16.
DType meta_dtype(const ModelFile& f, const std::string& path, const std::string& key) {
  const std::string& p = meta(f, path, key);
  if (const auto d = dtype_of_precision_name(p)) return *d;
  AE_FAIL(path, ": __metadata__ ", key, " is ", quote_bytes(p, 40, '\''), "; expected one of: fp32, bf16, fp16");
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string t;
  for (auto d : s) t += (t.empty() ? "" : ", ") + std::to_string(d);
  return "[" + t + "]";
}

// Copies tensor `name` into dst after checking it exists with `shape`.
void read_tensor(const ModelFile& f, const std::string& path, const std::string& name, const std::vector<int64_t>& shape,
                 float* dst, const std::string& why) {
  const NamedTensor* t = f.find(name);
  if (!t) AE_FAIL(path, ": tensor '", name, "' is missing (", why, ")");
  if (t->shape != shape)
    AE_FAIL(path, ": tensor '", name, "' has shape ", shape_text(t->shape), " but ", why, " needs ", shape_text(shape));
  std::memcpy(dst, t->data.data(), t->data.size() * sizeof(float));
}

// The JSON records other commands read field by field must have the types they expect.
void check_metadata_types(const Model& m, const std::string& path) {
  if (!m.history.is_array()) AE_FAIL(path, ": __metadata__ ae.history must be an array");
  for (const auto& h : m.history)
    if (!h.is_object()) AE_FAIL(path, ": __metadata__ ae.history holds a non-object entry: ", json_shown(h));
  if (!m.optimizer.is_object()) AE_FAIL(path, ": __metadata__ ae.optimizer must be an object");
  if (!m.data.is_object()) AE_FAIL(path, ": __metadata__ ae.data must be an object");
  if (m.data.contains("columns")) {
    const auto& c = m.data["columns"];
    if (!c.is_array()) AE_FAIL(path, ": __metadata__ ae.data.columns must be an array of names");
    for (const auto& v : c)
      if (!v.is_string()) AE_FAIL(path, ": __metadata__ ae.data.columns must be an array of names");
  }
}

// ae.code_stats: {"median": [units], "std": [units], "rows": N}; absent in older files.
void read_code_stats(const nlohmann::json& j, const std::string& path, Model& m) {
  const size_t units = size_t(m.spec.code_units());
  auto floats = [&](const char* key) {
    if (!j.is_object() || !j.contains(key) || !j[key].is_array() || j[key].size() != units)
      AE_FAIL(path, ": __metadata__ ae.code_stats.", key, " must be an array of ", units, " numbers (one per code unit)");
    std::vector<float> v;
    for (const auto& x : j[key]) {
      if (!x.is_number() || !std::isfinite(x.get<double>()))
        AE_FAIL(path, ": __metadata__ ae.code_stats.", key, " holds ", json_shown(x), ", not a finite number");
      v.push_back(x.get<float>());
    }
    return v;
  };
  m.code_median = floats("median");
  m.code_std = floats("std");
  for (float s : m.code_std)
    if (s < 0) AE_FAIL(path, ": __metadata__ ae.code_stats.std holds a negative deviation ", s);
  m.code_stats_rows = j.contains("rows") && j["rows"].is_number_unsigned() ? j["rows"].get<int64_t>() : 0;
}

}  // namespace

std::string precision_description(Precision p) {
  if (p.tf32) return "fp32 storage, tf32 tensor-core GEMMs with fp32 accumulation";
  if (p.compute == DType::f32) return "fp32";
  return std::string(precision_name(p)) + " storage and GEMMs, fp32 accumulation and master weights" +
         (p.compute == DType::f16 ? ", dynamic loss scaling" : "");
}

Precision parse_precision(const std::string& value, const std::string& option) {
  if (const auto p = precision_of_name(value)) return *p;
  AE_FAIL(option, " ", value, ": unknown precision; expected one of: fp32, bf16, fp16, tf32");
}

namespace {

// The dtype the weights are stored in: ae.save_dtype, which every weight tensor must match; in a file
// without it (written before --save-dtype, or converted by other tools), the weights' common dtype.
DType stored_dtype(const ModelFile& f, const std::string& path, const std::set<std::string>& weights) {
  const bool recorded = f.metadata.count("ae.save_dtype") > 0;
  const DType want = recorded ? meta_dtype(f, path, "ae.save_dtype") : weights.empty() ? DType::f32 : f.find(*weights.begin())->dtype;
  for (const std::string& name : weights) {
    const DType got = f.find(name)->dtype;
    if (got == want) continue;
    if (!recorded) return DType::f32;  // mixed: each tensor is still read exactly
    AE_FAIL(path, ": tensor '", name, "' is stored as ", precision_name(got), " but __metadata__ ae.save_dtype says ",
            precision_name(want), "; the file was changed after ae wrote it");
  }
  return want;
}

Model from_file(const ModelFile& f, const std::string& path, int slots, bool checkpoint) {
  int64_t version = meta_int(f, path, "ae.format_version");
  if (version > MODEL_FORMAT_VERSION)
    AE_FAIL(path, ": model format version ", version, " is newer than this ae reads (", MODEL_FORMAT_VERSION, "); upgrade ae");
  Model m;
  m.spec = parse_spec_json(meta_json(f, path, "ae.spec"), path + ": __metadata__ ae.spec");
  auto loss = parse_loss_name(meta(f, path, "ae.loss"));
  if (!loss)
    AE_FAIL(path, ": __metadata__ ae.loss is ", quote_bytes(meta(f, path, "ae.loss"), 40, '\''), "; expected one of: ",
            loss_names_list());
  m.loss = *loss;
  if (f.metadata.count("ae.precision")) {  // absent in files written before mixed precision: fp32
    const std::string& p = meta(f, path, "ae.precision");
    const auto precision = precision_of_name(p);
    if (!precision)
      AE_FAIL(path, ": __metadata__ ae.precision is ", quote_bytes(p, 40, '\''), "; expected one of: fp32, bf16, fp16, tf32");
    m.precision = *precision;
  }
  m.step = meta_int(f, path, "ae.step");
  m.epoch = meta_int(f, path, "ae.epoch");
  auto rng = meta_json(f, path, "ae.rng");
  if (!rng.is_object() || !rng.contains("seed") || !rng["seed"].is_number_unsigned())
    AE_FAIL(path, ": __metadata__ ae.rng has no unsigned 'seed'");
  m.seed = rng["seed"].get<uint64_t>();
  if (f.metadata.count("ae.normalization"))
    m.norm = Normalizer::from_json(meta_json(f, path, "ae.normalization"), m.spec.input, path + ": __metadata__ ae.normalization");
  if (f.metadata.count("ae.threshold")) m.threshold = meta_json(f, path, "ae.threshold");
  if (!m.threshold.is_null() && !(m.threshold.is_object() && m.threshold.contains("value") && m.threshold["value"].is_number()))
    AE_FAIL(path, ": __metadata__ ae.threshold must be null or an object with a numeric 'value'");
  if (f.metadata.count("ae.history")) m.history = meta_json(f, path, "ae.history");
  if (f.metadata.count("ae.optimizer")) m.optimizer = meta_json(f, path, "ae.optimizer");
  if (f.metadata.count("ae.data")) m.data = meta_json(f, path, "ae.data");
  check_metadata_types(m, path);
  if (f.metadata.count("ae.code_stats")) read_code_stats(meta_json(f, path, "ae.code_stats"), path, m);
  std::string why = "the spec " + m.spec.to_compact();
  // Shapes first: a spec in the metadata cannot make ae allocate more than the file holds.
  std::set<std::string> part_names;
  for (const ParamInfo& p : ParamStore::infos_for(m.spec))
    for (const FilePart& part : file_parts(p)) {
      const NamedTensor* t = f.find(part.name);
      if (!t) AE_FAIL(path, ": tensor '", part.name, "' is missing (", why, ")");
      if (t->shape != part.shape)
        AE_FAIL(path, ": tensor '", part.name, "' has shape ", shape_text(t->shape), " but ", why, " needs ", shape_text(part.shape));
      part_names.insert(part.name);
    }
  m.save_dtype = stored_dtype(f, path, part_names);
  m.params = ParamStore(ParamStore::infos_for(m.spec), slots);
  size_t expected = m.params.count();
  for (size_t i = 0; i < m.params.count(); ++i) {
    const ParamInfo& p = m.params.info(i);
    for (const FilePart& part : file_parts(p)) read_tensor(f, path, part.name, part.shape, m.params.value(i) + part.offset, why);
    for (size_t k = 0; k < m.params.state_blocks(i); ++k)
      for (int s = 0; s < slots; ++s, ++expected)
        read_tensor(f, path, state_tensor_name(m.params, i, k, s), {p.size()},
                    m.params.state_block(i, k) + s * p.size(), "the optimizer state");
  }
  m.params.bump_version();  // values read in after the store was made
  for (const auto& t : f.tensors) {
    bool known = part_names.count(t.name) > 0 ||
                 (checkpoint && (t.name.rfind("optimizer.", 0) == 0 || t.name.rfind("best.", 0) == 0));
    if (!known) AE_FAIL(path, ": unexpected tensor ", quote_bytes(t.name, 64, '\''), " for spec ", m.spec.to_compact());
  }
  (void)expected;
  return m;
}

}  // namespace

void Model::save(const std::string& path) const { save_model_file(path, to_file(*this, save_dtype)); }

Model Model::load(const std::string& path) {
  ModelFile f = load_model_file(path);
  return from_file(f, path, 0, f.metadata.count("ae.checkpoint") > 0);
}

void save_checkpoint(const std::string& path, const Model& m, const Checkpoint& ck) {
  ModelFile f = to_file(m, DType::f32);
  for (size_t i = 0; i < m.params.count(); ++i) {
    const ParamInfo& p = m.params.info(i);
    for (size_t k = 0; k < m.params.state_blocks(i); ++k)  // every group's state: a resume continues each optimizer
      for (int s = 0; s < m.params.state_slots(); ++s)
        add_tensor(f, state_tensor_name(m.params, i, k, s), {p.size()},
                   m.params.state_block(i, k) + s * p.size(), p.size());
  }
  if (ck.best)
    for (size_t i = 0; i < ck.best->count(); ++i)
      add_tensor(f, "best." + ck.best->info(i).name, torch_shape(ck.best->info(i)), ck.best->value(i), ck.best->info(i).size());
  nlohmann::json st = ck.train_state;
  st["optimizer_slots"] = m.params.state_slots();
  st["has_best"] = bool(ck.best);
  f.metadata["ae.checkpoint"] = st.dump();
  save_model_file(path, f);
}

Model load_checkpoint(const std::string& path, int slots, Checkpoint& ck) {
  ModelFile f = load_model_file(path);
  if (!f.metadata.count("ae.checkpoint")) AE_FAIL(path, ": not a checkpoint (a model file without training state); use --init to start from its weights");
  ck.train_state = meta_json(f, path, "ae.checkpoint");
  if (!ck.train_state.is_object() || !ck.train_state.contains("optimizer_slots") ||
      ck.train_state["optimizer_slots"] != slots)
    AE_FAIL(path, ": checkpoint holds optimizer state for a different optimizer than this run's");
  Model m = from_file(f, path, slots, true);
  ck.best.reset();
  const auto has_best = ck.train_state.find("has_best");
  if (has_best != ck.train_state.end() && !has_best->is_boolean())
    AE_FAIL(path, ": __metadata__ ae.checkpoint has_best is ", json_shown(*has_best), ", expected true or false");
  if (has_best != ck.train_state.end() && has_best->get<bool>()) {
    ck.best.emplace(ParamStore::infos_for(m.spec), 0);
    for (size_t i = 0; i < ck.best->count(); ++i)
      read_tensor(f, path, "best." + ck.best->info(i).name, torch_shape(ck.best->info(i)), ck.best->value(i), "the best weights");
    ck.best->bump_version();
  }
  return m;
}

}  // namespace ae
