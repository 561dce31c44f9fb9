// Binary junk through the real `ae` command (issue 15, item 4; tests/host/junk_input_test.cpp feeds
// every loader directly): stderr is exactly "ae: error: <message>\n", the message printable (ASCII
// plus ae's own symbols, see kernels/common/error.h) and naming the file, the exit code non-zero,
// and no output file or temporary left behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "ae/ae.hpp"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

const std::vector<std::string> k_symbols = {"…", "×", "≥", "≤", "±", "λ", "—", "·", "→", "−"};

// Every byte printable ASCII or part of one of ae's symbols; else the offending offset.
std::string first_unprintable(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F) {
      ++i;
      continue;
    }
    const auto sym = std::find_if(k_symbols.begin(), k_symbols.end(),
                                  [&](const std::string& k) { return s.compare(i, k.size(), k) == 0; });
    if (sym == k_symbols.end()) return "byte " + std::to_string(int(c)) + " at " + std::to_string(i);
    i += sym->size();
  }
  return "";
}

// What makes a terminal or a log line go wrong: newlines, NUL, a C1 byte, an ANSI escape.
const std::string k_nasty("\n\0\x9f\r\t\x1b[31m\xff\xfe\x85", 13);

std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xFF);
  return s;
}

class JunkCli : public ::testing::Test {
 protected:
  ScratchDir dir;

  // Runs `args`, which must fail on `junk` (a path in dir) with one printable line naming it and
  // leave the directory as it was (no output, no temporary).
  void refused(const std::vector<std::string>& args, const std::string& junk) {
    const std::vector<std::string> before = dir.list();
    const RunResult r = run_ae(args, dir);
    SCOPED_TRACE(r.command);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_LT(r.exit_code, 128) << "killed by a signal";
    ASSERT_EQ(r.err.rfind("ae: error: ", 0), 0u) << r.err;
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.back(), '\n');
    const std::string line = r.err.substr(0, r.err.size() - 1);
    EXPECT_EQ(line.find('\n'), std::string::npos) << "more than one line: " << r.err;
    EXPECT_EQ(first_unprintable(line), "") << r.err;
    EXPECT_NE(line.find(junk), std::string::npos) << "does not name " << junk << ": " << r.err;
    EXPECT_EQ(dir.list(), before);
  }
};

TEST_F(JunkCli, InfoOnJunkModels) {
  const std::string random = dir / "random.safetensors";
  std::string bytes;
  for (int i = 0; i < 300; ++i) bytes += char((i * 151 + 7) & 0xFF);
  write_bytes(random, bytes);
  refused({"info", "--model", random}, random);

  // A plausible length, then a JSON header with raw newlines, NUL and 0x9f inside a name.
  const std::string header = "{\"w" + k_nasty + "\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}";
  const std::string nasty = dir / "nasty.safetensors";
  write_bytes(nasty, u64_le(header.size()) + header + std::string(4, '\0'));
  refused({"info", "--model", nasty}, nasty);

  // Valid JSON whose escapes decode to a newline and control bytes in a tensor name.
  const std::string escaped_header =
      R"({"w\u0000\n\u009f\u001b[2J": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})";
  const std::string escaped = dir / "escaped.safetensors";
  write_bytes(escaped, u64_le(escaped_header.size()) + escaped_header + std::string(4, '\0'));
  refused({"info", "--model", escaped}, escaped);
}

TEST_F(JunkCli, EncodeOnJunkData) {
  const std::string model = dir / "model.safetensors";
  Autoencoder::create("4-2-4", 1).save(model);
  const std::string out = dir / "codes.npy";

  const std::string npy = dir / "junk.npy";
  std::string dict = "{'descr': '<f4', " + k_nasty + "'fortran_order': False, 'shape': (2, 4), }";
  dict.append(63 - (10 + dict.size()) % 64, ' ');
  dict += '\n';
  write_bytes(npy, std::string("\x93NUMPY\x01\x00", 8) + char(dict.size()) + '\0' + dict + std::string(32, '\0'));
  refused({"encode", "--model", model, "--data", npy, "--out", out, "--quiet"}, npy);

  const std::string csv = dir / "junk.csv";
  write_bytes(csv, "a,b,c,d\n1,2,3,4\n5,6,7," + k_nasty.substr(2) + "\n");
  refused({"encode", "--model", model, "--data", csv, "--out", out, "--quiet"}, csv);

  const std::string spec = dir / "junk.json";
  write_bytes(spec, "{\"input\": 4, \"enc" + k_nasty + "\": [2]}");
  const std::string good = dir / "good.csv";
  write_bytes(good, "a,b,c,d\n1,2,3,4\n");
  refused({"train", "--spec", spec, "--data", good, "--out", dir / "out.safetensors", "--steps", "1"}, spec);
}

}  // namespace
}  // namespace ae::e2e
