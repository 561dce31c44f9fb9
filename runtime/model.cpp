// Model creation, saving and loading (with full validation against the spec).
#include "runtime/model.h"

#include <cstring>

#include "kernels/common/error.h"
#include "kernels/cpu/init.h"
#include "runtime/model_file.h"

namespace ae {

Model Model::create(const Spec& spec, uint64_t seed, Loss loss) {
  Model m;
  m.spec = spec;
  m.seed = seed;
  m.loss = loss;
  m.params = ParamStore(ParamStore::infos_for(spec), 0);
  for (int64_t l = 0; l < spec.num_layers(); ++l)
    cpu::init_dense(spec.layer(l).act, spec.layer(l).units, spec.layer_in(l), seed, uint32_t(l), m.params.value(size_t(2 * l)),
                    m.params.value(size_t(2 * l + 1)));
  return m;
}

void Model::ensure_state_slots(int slots) {
  if (params.state_slots() == slots) return;
  ParamStore fresh(ParamStore::infos_for(spec), slots);
  for (size_t i = 0; i < params.count(); ++i)
    std::memcpy(fresh.value(i), params.value(i), size_t(params.info(i).size()) * sizeof(float));
  params = std::move(fresh);
}

void Model::save(const std::string& path) const {
  ModelFile f;
  for (size_t i = 0; i < params.count(); ++i) {
    const ParamInfo& p = params.info(i);
    NamedTensor t;
    t.name = p.name;
    bool is_bias = p.name.size() > 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0;
    t.shape = is_bias ? std::vector<int64_t>{p.cols} : std::vector<int64_t>{p.rows, p.cols};
    t.data.assign(params.value(i), params.value(i) + p.size());
    f.tensors.push_back(std::move(t));
  }
  f.metadata["format"] = "ae";
  f.metadata["ae.format_version"] = std::to_string(MODEL_FORMAT_VERSION);
  f.metadata["ae.spec"] = spec.to_json().dump();
  f.metadata["ae.spec_compact"] = spec.to_compact();
  f.metadata["ae.loss"] = loss_name(loss);
  f.metadata["ae.step"] = std::to_string(step);
  f.metadata["ae.epoch"] = std::to_string(epoch);
  f.metadata["ae.rng"] = nlohmann::json{{"algorithm", "philox4x32-10"}, {"seed", seed}, {"step", step}, {"epoch", epoch}}.dump();
  f.metadata["ae.normalization"] = normalization.dump();
  f.metadata["ae.history"] = history.dump();
  f.metadata["ae.optimizer"] = optimizer.dump();
  save_model_file(path, f);
}

namespace {

const std::string& meta(const ModelFile& f, const std::string& path, const std::string& key) {
  auto it = f.metadata.find(key);
  if (it == f.metadata.end()) AE_FAIL(path, ": not an ae model: __metadata__ has no '", key, "'");
  return it->second;
}

nlohmann::json meta_json(const ModelFile& f, const std::string& path, const std::string& key) {
  try {
    return nlohmann::json::parse(meta(f, path, key));
  } catch (const nlohmann::json::parse_error& e) {
    AE_FAIL(path, ": __metadata__ field '", key, "' is not valid JSON: ", e.what());
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
  AE_FAIL(path, ": __metadata__ field '", key, "' must be a non-negative integer, got '", s, "'");
}

}  // namespace

Model Model::load(const std::string& path) {
  ModelFile f = load_model_file(path);
  int64_t version = meta_int(f, path, "ae.format_version");
  if (version > MODEL_FORMAT_VERSION)
    AE_FAIL(path, ": model format version ", version, " is newer than this ae reads (", MODEL_FORMAT_VERSION, "); upgrade ae");
  Model m;
  m.spec = parse_spec_json(meta_json(f, path, "ae.spec"), path + ": __metadata__ ae.spec");
  auto loss = parse_loss_name(meta(f, path, "ae.loss"));
  if (!loss) AE_FAIL(path, ": __metadata__ ae.loss is '", meta(f, path, "ae.loss"), "'; expected one of: ", loss_names_list());
  m.loss = *loss;
  m.step = meta_int(f, path, "ae.step");
  m.epoch = meta_int(f, path, "ae.epoch");
  auto rng = meta_json(f, path, "ae.rng");
  if (!rng.contains("seed") || !rng["seed"].is_number_unsigned()) AE_FAIL(path, ": __metadata__ ae.rng has no unsigned 'seed'");
  m.seed = rng["seed"].get<uint64_t>();
  if (f.metadata.count("ae.normalization")) m.normalization = meta_json(f, path, "ae.normalization");
  if (f.metadata.count("ae.history")) m.history = meta_json(f, path, "ae.history");
  if (f.metadata.count("ae.optimizer")) m.optimizer = meta_json(f, path, "ae.optimizer");
  m.params = ParamStore(ParamStore::infos_for(m.spec), 0);
  for (size_t i = 0; i < m.params.count(); ++i) {
    const ParamInfo& p = m.params.info(i);
    const NamedTensor* t = f.find(p.name);
    if (!t) AE_FAIL(path, ": tensor '", p.name, "' is missing (the spec ", m.spec.to_compact(), " needs it)");
    bool is_bias = p.name.size() > 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0;
    std::vector<int64_t> want = is_bias ? std::vector<int64_t>{p.cols} : std::vector<int64_t>{p.rows, p.cols};
    if (t->shape != want) {
      std::string got, exp;
      for (auto d : t->shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
      for (auto d : want) exp += (exp.empty() ? "" : ", ") + std::to_string(d);
      AE_FAIL(path, ": tensor '", p.name, "' has shape [", got, "] but the spec needs [", exp, "]");
    }
    std::memcpy(m.params.value(i), t->data.data(), size_t(p.size()) * sizeof(float));
  }
  if (f.tensors.size() != m.params.count()) {
    for (const auto& t : f.tensors)
      if (m.params.index_of(t.name) < 0) AE_FAIL(path, ": unexpected tensor '", t.name, "' for spec ", m.spec.to_compact());
  }
  return m;
}

}  // namespace ae
