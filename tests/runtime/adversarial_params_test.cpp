// An adversarial autoencoder's parameters: the discriminator's names and groups in the registry,
// one optimizer state per (parameter, group) in the ParamStore's block, and checkpoints that save
// and restore every one of them (model files keep values only).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>

#include "graph/build.h"
#include "graph/param_registry.h"
#include "kernels/common/error.h"
#include "kernels/common/philox.h"
#include "runtime/executor.h"
#include "runtime/model.h"
#include "runtime/model_file.h"
#include "tests/expect_error.h"
#include "tests/temp_dir.h"

namespace ae {
namespace {

const char* const AAE = "12-8r-3-8r-12s:adversarial=3-6r-5t-1";

TEST(AdversarialParams, DiscriminatorIsGroupOneAndTheEncoderGroupsZeroAndTwo) {
  const ParamRegistry r = param_registry(parse_spec(AAE));
  std::vector<std::string> names;
  for (const ParamDef& p : r.params) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias",
                                             "decoder.0.weight", "decoder.0.bias", "decoder.2.weight", "decoder.2.bias",
                                             "discriminator.0.weight", "discriminator.0.bias", "discriminator.2.weight",
                                             "discriminator.2.bias", "discriminator.4.weight", "discriminator.4.bias"}));
  const auto def = [&](const std::string& n) { return r.params[size_t(r.index_of(n))]; };
  EXPECT_EQ(def("encoder.2.weight").groups, (std::vector<int>{0, 2}));
  EXPECT_EQ(def("encoder.0.bias").groups, (std::vector<int>{0, 2}));
  EXPECT_EQ(def("decoder.0.weight").groups, (std::vector<int>{0}));
  EXPECT_EQ(def("discriminator.0.weight").groups, (std::vector<int>{1}));
  EXPECT_EQ(def("discriminator.0.weight").dims, (std::vector<int64_t>{6, 3}));
  EXPECT_EQ(def("discriminator.2.weight").dims, (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(def("discriminator.4.weight").dims, (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(def("discriminator.4.bias").dims, (std::vector<int64_t>{1}));
  ASSERT_EQ(r.discriminator.size(), 3u);
  std::set<int> owners;  // each layer its own initialisation stream, none shared with the autoencoder's
  for (const ParamDef& p : r.params) owners.insert(p.layer);
  EXPECT_EQ(owners.size(), 7u);
  EXPECT_EQ(parse_spec(AAE).parameter_count(), r.count());
  // Without a discriminator every parameter has the one group it always had.
  for (const ParamDef& p : param_registry(parse_spec("12-8r-3-8r-12s")).params) EXPECT_EQ(p.groups, (std::vector<int>{0}));
}

TEST(AdversarialParams, StoreHasOneStatePerParamAndGroupInItsBlock) {
  const Spec spec = parse_spec(AAE);
  ParamStore store(ParamStore::infos_for(spec), 2);
  const int enc = store.index_of("encoder.0.weight"), dec = store.index_of("decoder.0.weight"),
            dis = store.index_of("discriminator.0.weight");
  EXPECT_EQ(store.state_blocks(size_t(enc)), 2u);
  EXPECT_EQ(store.state_blocks(size_t(dec)), 1u);
  EXPECT_EQ(store.state_group(size_t(enc), 1), 2);
  EXPECT_EQ(store.state(size_t(enc)), store.state(size_t(enc), 0));  // state(i) is the first group's
  float* g0 = store.state(size_t(enc), 0);
  float* g2 = store.state(size_t(enc), 2);
  const int64_t n = store.info(size_t(enc)).size();
  ASSERT_NE(g0, g2);
  // Disjoint, 128-byte aligned, inside the one block a device mirrors byte for byte.
  EXPECT_GE(g2, g0 + 2 * n);
  for (const float* p : {g0, g2, store.state(size_t(dis), 1)}) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 128, 0u);
    EXPECT_GE(reinterpret_cast<const char*>(p), static_cast<const char*>(store.block()));
    EXPECT_LE(reinterpret_cast<const char*>(p + 2 * n), static_cast<const char*>(store.block()) + store.block_bytes());
  }
  for (int64_t e = 0; e < 2 * n; ++e) g2[e] = 1.0f;
  for (int64_t e = 0; e < 2 * n; ++e) ASSERT_EQ(g0[e], 0.0f) << "group 2's state overlaps group 0's";
  store.zero_state();
  for (int64_t e = 0; e < 2 * n; ++e) ASSERT_EQ(g2[e], 0.0f) << "zero_state left group 2's state";
  test::expect_error([&] { store.state(size_t(dec), 2); }, {"decoder.0.weight", "no optimizer state for group 2", "its groups: 0"});
  test::expect_error([&] { store.state(size_t(dis), 0); }, {"discriminator.0.weight", "group 0", "its groups: 1"});
  // A store built by hand (no groups listed) has one state that serves any group.
  ParamStore plain({{"w", {3, 2}}}, 1);
  EXPECT_EQ(plain.state(0, 5), plain.state(0));
}

TEST(AdversarialParams, EachGraphNamesTheGroupItsPhaseTrainsAParamUnder) {
  const Spec spec = parse_spec(AAE);
  BuildOptions o;
  const Graph g = build_graph(spec, o);  // training phase 0: reconstruction, group 0
  for (const Param& p : g.params) {
    const bool d = p.name.rfind("discriminator.", 0) == 0;
    EXPECT_EQ(p.group, d ? 1 : 0) << p.name;
    EXPECT_EQ(p.grad >= 0, !d) << p.name << ": phase 0 trains the encoder and decoder only";
  }
  o.mode = GraphMode::eval;
  for (const Param& p : build_graph(spec, o).params) EXPECT_EQ(p.group, p.name.rfind("discriminator.", 0) == 0 ? 1 : 0);
}

bool all_zero(const float* p, int64_t n) {
  for (int64_t e = 0; e < n; ++e)
    if (p[e] != 0.0f) return false;
  return true;
}

// The phases' optimizer steps each read and write the state of the group they train a parameter
// under, on every backend of the build: the generator's adam moments of the encoder are group 2's,
// the reconstruction's group 0's, and neither touches the other's or the untrained parameters.
TEST(AdversarialParams, EachPhaseStepsItsOwnGroupsState) {
  const Spec spec = parse_spec(AAE);
  for (const std::string& name : backend_names()) {
    std::unique_ptr<Backend> backend;
    try {
      backend = make_backend(name);
    } catch (const Error&) {
      continue;  // cuda registered without a GPU
    }
    SCOPED_TRACE(name);
    Model m = Model::create(spec, 4, Loss::bce);
    m.ensure_state_slots(2);
    const int64_t B = 6;
    const cpu::OptConfig adam = cpu::default_opt_config(cpu::OptKind::adam);
    const auto run_phase = [&](int phase) {
      BuildOptions o;
      o.loss = Loss::bce;
      o.phase = phase;
      Executor ex(make_plan(build_graph(spec, o), GraphMode::train, B), *backend, m.params);
      for (int64_t e = 0; e < B * 12; ++e) ex.input()[e] = philox_uniform(1, 0, PhiloxPurpose::data, uint64_t(e));
      ex.set_seed(m.seed);
      ex.run(B, std::vector<cpu::OptConfig>{adam, adam, adam}, 1);
      ex.sync_params_to_host();
    };
    const size_t enc = size_t(m.params.index_of("encoder.0.weight")), dec = size_t(m.params.index_of("decoder.0.weight")),
                 dis = size_t(m.params.index_of("discriminator.0.weight"));
    const auto n = [&](size_t i) { return 2 * m.params.info(i).size(); };
    run_phase(2);  // the generator: the encoder's group-2 state only
    EXPECT_FALSE(all_zero(m.params.state(enc, 2), n(enc)));
    EXPECT_TRUE(all_zero(m.params.state(enc, 0), n(enc)));
    EXPECT_TRUE(all_zero(m.params.state(dec), n(dec)));
    EXPECT_TRUE(all_zero(m.params.state(dis, 1), n(dis)));
    const std::vector<float> g2(m.params.state(enc, 2), m.params.state(enc, 2) + n(enc));
    run_phase(1);  // the discriminator: group 1
    EXPECT_FALSE(all_zero(m.params.state(dis, 1), n(dis)));
    EXPECT_TRUE(all_zero(m.params.state(enc, 0), n(enc)));
    run_phase(0);  // the reconstruction: group 0, leaving group 2's moments as they were
    EXPECT_FALSE(all_zero(m.params.state(enc, 0), n(enc)));
    EXPECT_FALSE(all_zero(m.params.state(dec), n(dec)));
    EXPECT_EQ(std::memcmp(m.params.state(enc, 2), g2.data(), g2.size() * 4), 0);
  }
}

// Each (parameter, group) state under its own name: optimizer.<name>.<slot> for the first group,
// optimizer.g<group>.<name>.<slot> for another; all read back bit for bit. A model file has none.
TEST(AdversarialParams, CheckpointsSaveAndRestoreEveryGroupsState) {
  test::TempDir dir("ae_aae_params");
  Model m = Model::create(parse_spec(AAE), 3, Loss::bce);
  m.ensure_state_slots(2);
  for (size_t i = 0; i < m.params.count(); ++i)
    for (size_t k = 0; k < m.params.state_blocks(i); ++k)
      for (int64_t e = 0; e < 2 * m.params.info(i).size(); ++e) m.params.state_block(i, k)[e] = float(i * 1000 + k * 100 + e);
  Checkpoint ck;
  ck.train_state = {{"loop", {}}};
  save_checkpoint(dir.file("c.ckpt"), m, ck);
  const ModelFile f = load_model_file(dir.file("c.ckpt"));
  ASSERT_NE(f.find("optimizer.encoder.0.weight.1"), nullptr);
  ASSERT_NE(f.find("optimizer.g2.encoder.0.weight.1"), nullptr);
  ASSERT_NE(f.find("optimizer.discriminator.4.bias.0"), nullptr);
  EXPECT_EQ(f.find("optimizer.g2.decoder.0.weight.0"), nullptr);
  EXPECT_EQ(f.find("optimizer.g1.discriminator.4.bias.0"), nullptr);  // group 1 is the discriminator's first
  Checkpoint back;
  const Model r = load_checkpoint(dir.file("c.ckpt"), 2, back);
  ASSERT_EQ(r.params.block_bytes(), m.params.block_bytes());
  for (size_t i = 0; i < m.params.count(); ++i)
    for (size_t k = 0; k < m.params.state_blocks(i); ++k)
      ASSERT_EQ(std::memcmp(r.params.state_block(i, k), m.params.state_block(i, k), size_t(2 * m.params.info(i).size()) * 4), 0)
          << m.params.info(i).name << " block " << k;
  // A model file holds values only, the discriminator's among them.
  m.save(dir.file("m.safetensors"));
  const ModelFile mf = load_model_file(dir.file("m.safetensors"));
  for (const NamedTensor& t : mf.tensors) EXPECT_NE(t.name.rfind("optimizer.", 0), 0u) << t.name;
  ASSERT_NE(mf.find("discriminator.2.weight"), nullptr);
  const Model loaded = Model::load(dir.file("m.safetensors"));
  const int d = loaded.params.index_of("discriminator.2.weight");
  ASSERT_GE(d, 0);
  EXPECT_EQ(std::memcmp(loaded.params.value(size_t(d)), m.params.value(size_t(d)), 30 * 4), 0);
  EXPECT_EQ(loaded.spec.adversarial, m.spec.adversarial);
}

}  // namespace
}  // namespace ae
