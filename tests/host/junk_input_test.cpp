// Binary junk into every loader of ae (issue 15, item 4): IDX, NPY, CSV, the dataset and labels
// dispatch, the safetensors model file, an ae model's metadata and the spec parser (from a file and
// from a string). Each junk variant must be refused with ae::Error whose message is one line of
// printable text naming the file, short however large or binary the input: bytes quoted from a file
// are escaped (\x9f, \n) and cut to a window around the error, never copied as they are.
//
// Printable here means printable ASCII plus the few symbols of ae's own wording (kernels/common/
// error.h lists them); file content never adds any, since quote_bytes() escapes every non-ASCII byte.
// AE_JUNK_SHOW=1 prints every message, to read them all.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "graph/spec.h"
#include "host/data/csv.h"
#include "host/data/dataset.h"
#include "host/data/idx.h"
#include "host/data/npy.h"
#include "kernels/common/error.h"
#include "runtime/model.h"
#include "runtime/model_file.h"
#include "tests/temp_dir.h"

namespace ae {
namespace {

// The non-ASCII symbols ae's messages use on purpose; anything else beyond printable ASCII fails.
const std::vector<std::string> k_symbols = {"…", "×", "≥", "≤", "±", "λ", "—", "·", "→", "−"};
constexpr size_t k_max_message = 600;  // fixed wording + a path + short quotes; a dumped file is far longer

// "" when `msg` is one printable line, else what is wrong with it.
std::string unprintable(const std::string& msg) {
  for (size_t i = 0; i < msg.size();) {
    const auto c = static_cast<unsigned char>(msg[i]);
    if (c >= 0x20 && c < 0x7F) {
      ++i;
      continue;
    }
    bool symbol = false;
    for (const std::string& s : k_symbols)
      if (msg.compare(i, s.size(), s) == 0) {
        i += s.size();
        symbol = true;
        break;
      }
    if (symbol) continue;
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", c);
    return std::string("byte ") + hex + " at " + std::to_string(i);
  }
  if (msg.size() > k_max_message) return std::to_string(msg.size()) + " bytes long";
  return "";
}

// `load` must throw ae::Error: one printable line that contains `name` (the path, or "--spec").
void expect_one_line(const std::function<void()>& load, const std::string& name, const std::string& what) {
  try {
    load();
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (std::getenv("AE_JUNK_SHOW")) std::printf("%s\n  %s\n", what.c_str(), msg.c_str());  // to read them all
    EXPECT_EQ(unprintable(msg), "") << what << ": not one printable line: " << quote_bytes(msg, 2000);
    EXPECT_NE(msg.find(name), std::string::npos) << what << ": does not name " << name << ": " << msg;
    EXPECT_FALSE(msg.empty()) << what;
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": threw a non-ae exception: " << quote_bytes(e.what(), 2000);
    return;
  }
  ADD_FAILURE() << what << ": loaded junk without an error";
}

// ---- junk, deterministic ----------------------------------------------------------------------

// n bytes of every value 0..255, from a seed.
std::string junk(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

// The same without NUL bytes (a CSV reader refuses NULs up front; this gets past that check).
std::string junk_text(size_t n, uint32_t seed) {
  std::string s = junk(n, seed);
  for (char& c : s)
    if (c == '\0') c = '\x9f';
  return s;
}

// What a terminal or a log would choke on: newlines, NUL, a C1 byte, an ANSI escape, a BOM-ish pair.
const std::string k_nasty("\n\0\x9f\r\t\x1b[31m\xff\xfe\x85", 13);

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

std::string u32_be(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

std::string idx_file(uint8_t type, const std::vector<uint32_t>& dims, const std::string& data) {
  std::string s = {0, 0, char(type), char(dims.size())};
  for (uint32_t d : dims) s += u32_be(d);
  return s + data;
}

std::string npy_file(const std::string& dict, const std::string& data) {
  std::string header = dict;
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  std::string s("\x93NUMPY\x01\x00", 8);
  s += char(header.size() & 0xFF);
  s += char(header.size() >> 8);
  return s + header + data;
}

std::string npy_dict(const std::string& descr, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
}

std::string safetensors(const std::string& header, const std::string& data) {
  return u64_le(header.size()) + header + data;
}

std::string cut(const std::string& s, size_t keep) {
  return s.substr(0, keep);
}

struct Junk {
  std::string file;  // its name (the extension matters to the dataset dispatch)
  std::string bytes;
};

using Loader = std::function<void(const std::string& path)>;

struct Format {
  std::string name;
  std::vector<std::pair<std::string, Loader>> loaders;
  std::vector<Junk> variants;
};

// ---- the formats, each with its loaders and junk variants -------------------------------------

Format idx_format() {
  const std::string valid = idx_file(0x08, {2, 3, 3}, junk(18, 11));
  return {"IDX",
          {{"read_idx_matrix", [](const std::string& p) { read_idx_matrix(p); }},
           {"read_idx_labels", [](const std::string& p) { read_idx_labels(p); }},
           {"load_dataset", [](const std::string& p) { load_dataset(p); }},
           {"load_labels", [](const std::string& p) { load_labels(p); }}},
          {{"random.idx", junk(300, 1)},
           {"header_then_garbage.idx", valid + junk(100, 2)},
           {"nasty_dims.idx", std::string("\0\0\x08\x03", 4) + k_nasty.substr(0, 12)},
           {"nasty_type.idx", std::string("\0\0\x9f\x0a", 4) + k_nasty},
           {"truncated.idx", cut(valid, valid.size() - 5)},
           {"huge_dims.idx", idx_file(0x0E, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, junk(64, 3))},
           {"random-gzip.idx.gz", std::string("\x1f\x8b\x08\x00", 4) + junk(200, 4)}}};
}

Format npy_format() {
  const std::string valid = npy_file(npy_dict("<f4", "(2, 2)"), std::string(16, '\0'));
  return {"NPY",
          {{"read_npy", [](const std::string& p) { read_npy(p); }},
           {"load_dataset", [](const std::string& p) { load_dataset(p); }},
           {"load_labels", [](const std::string& p) { load_labels(p); }}},
          {{"random.npy", junk(300, 5)},
           {"magic_then_garbage.npy", std::string("\x93NUMPY\x01\x00\x76\x00", 10) + junk(118, 6) + junk(64, 7)},
           {"nasty_dtype.npy", npy_file(npy_dict("<f" + k_nasty + "4", "(2,)"), std::string(8, '\0'))},
           {"nasty_in_dict.npy",
            npy_file("{'descr': '<f4', " + k_nasty + "'fortran_order': False, 'shape': (2,), }", std::string(8, '\0'))},
           {"nasty_missing_key.npy", npy_file("{'descr': '" + k_nasty + "', 'shape': (2,), }", std::string(8, '\0'))},
           {"valid_header_garbage_data.npy", valid + junk(77, 8)},
           {"truncated.npy", cut(valid, valid.size() - 3)},
           {"huge_shape.npy", npy_file(npy_dict("<f8", "(4294967296, 4294967296)"), junk(16, 9))},
           {"huge_header_length.npy", std::string("\x93NUMPY\x02\x00\xff\xff\xff\x7f", 12) + junk(100, 10)}}};
}

Format csv_format() {
  std::string many_rows = "a,b\n";
  for (int i = 0; i < 2000; ++i) many_rows += "1,2\n";  // past the 4 KiB NUL check
  return {"CSV",
          {{"read_csv", [](const std::string& p) { read_csv(p); }},
           {"read_csv_int_column", [](const std::string& p) { read_csv_int_column(p, ""); }},
           {"load_dataset", [](const std::string& p) { load_dataset(p); }},
           {"load_labels", [](const std::string& p) { load_labels(p); }}},
          {{"random.csv", junk(300, 12)},
           {"random_text.csv", junk_text(300, 13)},
           {"header_then_garbage.csv", "a,b,c\n1,2,3\n" + junk_text(200, 14)},
           {"nasty_cell.csv", "a,b\n1,2\n3," + k_nasty.substr(2) + "\n"},
           {"nasty_after_quote.csv", "a,b\n\"x\"" + k_nasty.substr(2) + ",1\n"},
           {"nul_after_4k.csv", many_rows + std::string("3,\0\x9f\n", 5)},
           {"truncated.csv", "a,b,c\n1,2,3\n4,5"},
           {"huge_cell.csv", "a,b\n1," + std::string(100000, 'x') + k_nasty.substr(2) + "\n"}}};
}

// Files whose content names no format: the dispatch refuses them by name and content.
Format unknown_format() {
  return {"data file of no known format",
          {{"load_dataset", [](const std::string& p) { load_dataset(p); }},
           {"load_labels", [](const std::string& p) { load_labels(p); }}},
          {{"random.bin", junk(300, 15)},
           {"random_text.dat", junk_text(300, 16)},
           {"zip.bin", std::string("PK\x03\x04", 4) + junk(100, 17)}}};
}

Format safetensors_format(const std::string& valid_model) {
  const std::string tensor = R"({"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";
  return {
      "safetensors",
      {{"load_model_file", [](const std::string& p) { load_model_file(p); }},
       {"Model::load", [](const std::string& p) { Model::load(p); }}},
      {{"random.safetensors", junk(300, 18)},
       {"length_then_garbage.safetensors", safetensors(junk(200, 19), "")},
       {"json_then_garbage.safetensors", safetensors(R"({"w": )" + tensor + junk(100, 20), std::string(8, '\0'))},
       {"raw_nasty_key.safetensors", safetensors("{\"w" + k_nasty + "\": " + tensor + "}", std::string(8, '\0'))},
       {"escaped_nasty_name.safetensors",
        safetensors(
            R"({"w\u0000\n\u009f\u202e\u2028": {"dtype": "F\n32\u0085", "shape": [2], "data_offsets": [0, 8]}})",
            std::string(8, '\0'))},
       {"json_nul_then_junk.safetensors",  // nlohmann alone would stop at the NUL and accept
        safetensors(R"({"w": )" + tensor + "}" + std::string("\0\x9f\n", 3), std::string(8, '\0'))},
       {"huge_name.safetensors", safetensors("{\"" + std::string(5000, 'w') + "\": 7}", "")},
       {"nasty_metadata.safetensors",
        safetensors(R"({"__metadata__": {"k\n\u0000": ["\u009f", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]}})", "")},
       {"number_overflow.safetensors", safetensors(R"({"w": {"dtype": "F32", "shape": [1e999]}})", "")},
       {"truncated.safetensors", cut(valid_model, valid_model.size() - 3)},
       {"truncated_header.safetensors", cut(valid_model, 40)},
       {"huge_header_length.safetensors", u64_le(uint64_t{1} << 40) + junk(100, 21)},
       {"huge_offsets.safetensors",
        safetensors(
            R"({"w": {"dtype": "F32", "shape": [288230376151711744], "data_offsets": [0, 1152921504606846976]}})",
            "")}}};
}

// An ae model's metadata (__metadata__ strings holding JSON records) over valid tensors of the
// spec 4-2-4, for the readers above the file format; `meta` replaces or adds records (JSON strings
// as they stand in the header), `extra`, when given, names one more tensor (a JSON string).
std::string ae_model_file(const std::vector<std::pair<std::string, std::string>>& meta, const std::string& extra = "") {
  std::vector<std::pair<std::string, std::string>> records = {
      {"format", R"("ae")"},
      {"ae.format_version", R"("1")"},
      {"ae.spec", R"("{\"input\": 4, \"encoder\": [2], \"decoder\": [4]}")"},
      {"ae.loss", R"("mse")"},
      {"ae.step", R"("0")"},
      {"ae.epoch", R"("0")"},
      {"ae.rng", R"("{\"seed\": 1}")"}};
  for (const auto& [key, value] : meta) {
    bool replaced = false;
    for (auto& r : records)
      if (r.first == key) r.second = value, replaced = true;
    if (!replaced) records.emplace_back(key, value);
  }
  std::string header = R"({"__metadata__": {)";
  for (size_t i = 0; i < records.size(); ++i)
    header += (i ? ", \"" : "\"") + records[i].first + "\": " + records[i].second;
  header += R"(}, "encoder.0.weight": {"dtype": "F32", "shape": [2, 4], "data_offsets": [0, 32]},)"
            R"( "encoder.0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [32, 40]},)"
            R"( "decoder.0.weight": {"dtype": "F32", "shape": [4, 2], "data_offsets": [40, 72]},)"
            R"( "decoder.0.bias": {"dtype": "F32", "shape": [4], "data_offsets": [72, 88]})";
  if (!extra.empty()) header += ", " + extra + R"(: {"dtype": "F32", "shape": [1], "data_offsets": [88, 92]})";
  return safetensors(header + "}", std::string(extra.empty() ? 88 : 92, '\0'));
}

Format model_metadata_format() {
  const std::string good_checkpoint = R"("{\"optimizer_slots\": 0}")";
  return {
      "ae model metadata",
      {{"Model::load", [](const std::string& p) { Model::load(p); }},
       {"load_checkpoint",
        [](const std::string& p) {
          Checkpoint ck;
          load_checkpoint(p, 0, ck);
        }}},
      {{"spec_not_json.safetensors",
        ae_model_file({{"ae.spec", R"("{\"input\": \u0001\n\u009f\u00ff")"}, {"ae.checkpoint", good_checkpoint}})},
       {"spec_nasty_field.safetensors",
        ae_model_file({{"ae.spec", R"("{\"input\": 4, \"enc\\u0000\\n\\u009f\": [2], \"decoder\": [4]}")"},
                       {"ae.checkpoint", good_checkpoint}})},
       {"nasty_loss.safetensors",
        ae_model_file({{"ae.loss", R"("ms\n\u0000\u009fe")"}, {"ae.checkpoint", good_checkpoint}})},
       {"nasty_step.safetensors", ae_model_file({{"ae.step", R"("1\n\u009f")"}, {"ae.checkpoint", good_checkpoint}})},
       {"nasty_history.safetensors",
        ae_model_file({{"ae.history", R"("[\"\\u009f\\n\", 1]")"}, {"ae.checkpoint", good_checkpoint}})},
       {"nasty_normalization.safetensors",
        ae_model_file({{"ae.normalization", R"("{\"kind\": \"z\\n\\u0000\"}")"}, {"ae.checkpoint", good_checkpoint}})},
       {"spec_nul_then_junk.safetensors",
        ae_model_file({{"ae.spec", R"("{\"input\": 4, \"encoder\": [2], \"decoder\": [4]}\u0000\u009f")"},
                       {"ae.checkpoint", good_checkpoint}})},
       {"unexpected_tensor.safetensors", ae_model_file({{"ae.checkpoint", good_checkpoint}}, R"("x\n\u0000\u009f")")}}};
}

// Records only a checkpoint reads (a model loads without looking at them).
Format checkpoint_format() {
  return {
      "checkpoint",
      {{"load_checkpoint",
        [](const std::string& p) {
          Checkpoint ck;
          load_checkpoint(p, 0, ck);
        }}},
      {{"checkpoint_not_json.safetensors", ae_model_file({{"ae.checkpoint", R"("{\"optimizer_slots\" \u0000\n")"}})},
       {"checkpoint_nasty_has_best.safetensors",
        ae_model_file({{"ae.checkpoint", R"("{\"optimizer_slots\": 0, \"has_best\": \"y\\n\\u009f\"}")"}})},
       {"checkpoint_not_an_object.safetensors", ae_model_file({{"ae.checkpoint", R"("[\"\\n\"]")"}})}}};
}

Format spec_file_format() {
  return {"spec file",
          {{"parse_spec(file)", [](const std::string& p) { parse_spec(p); }}},
          {{"random.json", junk(300, 22)},
           {"brace_then_garbage.json", "{" + junk(200, 23)},
           {"raw_nasty_key.json", "{\"input\": 4, \"enc" + k_nasty + "\": [2]}"},
           {"escaped_nasty_key.json", R"({"input": 4, "enc\u0000\n\u009f\u202e": [2], "decoder": [4]})"},
           {"nasty_activation.json",
            R"({"input": 4, "encoder": [{"units": 2, "act": "re\u001b[31mlu\n"}], "decoder": [4]})"},
           {"nul_then_junk.json", std::string(R"({"input": 4, "encoder": [2], "decoder": [4]})") + k_nasty},
           {"truncated.json", R"(  {"input": 4, "encoder": [2], "deco)"},
           {"number_overflow.json", R"({"input": 1e999, "encoder": [2], "decoder": [4]})"},
           {"huge_width.json", R"({"input": 99999999999999999999999, "encoder": [2], "decoder": [4]})"},
           {"compact_nasty.json", "784-25" + k_nasty + "6r-784"},
           {"compact_huge.json", "784-" + std::string(10000, '9') + "-784"}}};
}

// ---- the test --------------------------------------------------------------------------------

class JunkInput : public ::testing::Test {
 protected:
  void run(const Format& f) {
    int checked = 0;
    for (const Junk& j : f.variants) {
      const std::string path = m_tmp.write(j.file, j.bytes);
      for (const auto& [name, load] : f.loaders) {
        expect_one_line([&] { load(path); }, path, f.name + " " + name + "(" + j.file + ")");
        ++checked;
      }
    }
    EXPECT_EQ(checked, int(f.variants.size() * f.loaders.size()));
  }
  test::TempDir m_tmp{"ae_junk"};
};

TEST_F(JunkInput, Idx) {
  run(idx_format());
}
TEST_F(JunkInput, Npy) {
  run(npy_format());
}
TEST_F(JunkInput, Csv) {
  run(csv_format());
}
TEST_F(JunkInput, UnknownFormat) {
  run(unknown_format());
}

TEST_F(JunkInput, Safetensors) {
  const std::string valid = m_tmp.file("valid.safetensors");
  Model::create(parse_spec("4-2-4"), 1, Loss::mse).save(valid);
  std::ifstream in(valid, std::ios::binary);
  run(safetensors_format(std::string(std::istreambuf_iterator<char>(in), {})));
}

TEST_F(JunkInput, ModelMetadata) {
  run(model_metadata_format());
}
TEST_F(JunkInput, Checkpoint) {
  run(checkpoint_format());
}
TEST_F(JunkInput, SpecFile) {
  run(spec_file_format());
  // A .json file holding its own name is parsed as a spec, not followed again (it used to recurse
  // until the stack ran out).
  const std::string self = m_tmp.file("self.json");
  m_tmp.write("self.json", self);
  expect_one_line([&] { parse_spec(self); }, self, "parse_spec(a file holding its own name)");
}

// The same spec junk as a --spec string: messages name "--spec" instead of a file.
TEST_F(JunkInput, SpecString) {
  for (const Junk& j : spec_file_format().variants)
    expect_one_line([&] { parse_spec(j.bytes); }, "--spec", "parse_spec(string " + j.file + ")");
}

// The helper itself: every byte that is not printable ASCII escaped, a window around the position,
// the offset stated, and "…" where the window cuts.
TEST(Quoted, EscapesAndWindows) {
  EXPECT_EQ(quote_bytes(std::string("a\"b\\c\n\t\r\0\x9f\x7f", 11)), R"("a\"b\\c\n\t\r\x00\x9f\x7f")");
  EXPECT_EQ(quote_bytes("abcdef", 3), "\"abc\"…");
  EXPECT_EQ(quote_bytes("it's", 40, '\''), R"('it\'s')");
  const std::string text = "0123456789abcdefghijklmnopqrstuvwxyz";
  EXPECT_EQ(quote_at(text, 20, 100, 12), "byte 120: …\"efghijklmnop\"…");
  EXPECT_EQ(quote_at(text, 2, 0, 12), "byte 2: \"0123456789ab\"…");
  EXPECT_EQ(quote_at(text, 99, 0, 12), "byte 36: …\"uvwxyz\"");
  EXPECT_EQ(detail::one_line("a\nb\x9f é × \xe2\x80\xa8"), "a\\nb\\x9f é × \\xe2\\x80\\xa8");
}

}  // namespace
}  // namespace ae
