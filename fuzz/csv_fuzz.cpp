// libFuzzer target: CSV files through read_csv under the option sets the CLI produces (header
// detect/yes/no, a label column by index or name, a column selection, a fixed delimiter, labels
// only, a row limit) and read_csv_int_column. The input is the file alone, so the seed corpus is
// plain CSV; each option set runs on every input.
#include "fuzz/fuzz_input.h"
#include "host/data/csv.h"

namespace {

std::vector<ae::CsvOptions> option_sets() {
  using H = ae::CsvOptions::Header;
  std::vector<ae::CsvOptions> sets(6);
  sets[1].header = H::yes;
  sets[1].label_column = "label";
  sets[2].header = H::no;
  sets[2].label_column = "0";
  sets[2].columns = {"2", "1"};
  sets[3].delimiter = ';';
  sets[3].columns = {"b", "1"};
  sets[4].label_column = "1";
  sets[4].labels_only = true;
  sets[5].header = H::yes;
  sets[5].delimiter = '\t';
  return sets;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ae::fuzz::ScratchFile file(".csv");
  static const std::vector<ae::CsvOptions> sets = option_sets();
  const std::string& path = file.write(data, size);
  for (const ae::CsvOptions& opt : sets) ae::fuzz::expect_ok_or_error([&] { ae::read_csv(path, opt); });
  ae::fuzz::expect_ok_or_error([&] { ae::read_csv(path, {}, 1); });
  ae::fuzz::expect_ok_or_error([&] { ae::read_csv_int_column(path, ""); });
  ae::fuzz::expect_ok_or_error([&] { ae::read_csv_int_column(path, "1"); });
  return 0;
}
