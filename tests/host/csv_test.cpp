// CSV reader and writer tests: exact numbers, header detection both ways, quoting, label and column
// selection, line-end and BOM variants, a bit-exact round trip through save_csv, and one file per
// refusal asserting the message carries path:line:column.
#include "host/data/csv.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "tests/host/data_test_util.h"

namespace ae {
namespace {

using test::expect_error;
using test::read_all;
namespace fs = std::filesystem;

class Csv : public test::DataDir {};

using Header = CsvOptions::Header;

TEST_F(Csv, HeaderDetectedAndNumbersExact) {
  const std::string p = write("a.csv", "x,y,z\n0.1,-2.5e3, +3 \n1e-50,7,-0\n 4.5 ,3.4028235e38,1e-40\n");
  const CsvData d = read_csv(p);
  ASSERT_EQ(d.features.rows, 3);
  ASSERT_EQ(d.features.cols, 3);
  EXPECT_EQ(d.features.column_names, (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_TRUE(d.labels.empty());
  const std::vector<float> want = {0.1f, -2500.0f, 3.0f, 0.0f, 7.0f, -0.0f, 4.5f, 3.4028235e38f, 1e-40f};
  ASSERT_EQ(d.features.data.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)  // bit equality: -0 and the subnormal must survive
    EXPECT_EQ(std::bit_cast<uint32_t>(d.features.data[i]), std::bit_cast<uint32_t>(want[i])) << "element " << i;
}

TEST_F(Csv, NoHeaderDetectedWhenFirstRowIsNumbers) {
  const CsvData d = read_csv(write("a.csv", "1,2\n3,4\n"));
  EXPECT_EQ(d.features.rows, 2);
  EXPECT_TRUE(d.features.column_names.empty());
  EXPECT_EQ(d.features.data, (std::vector<float>{1, 2, 3, 4}));
}

TEST_F(Csv, HeaderDeclaredOverridesDetection) {
  const std::string p = write("a.csv", "10,20\n3,4\n");
  CsvOptions yes;
  yes.header = Header::yes;
  const CsvData d = read_csv(p, yes);  // numeric names, e.g. pandas' default 0,1,...
  EXPECT_EQ(d.features.rows, 1);
  EXPECT_EQ(d.features.column_names, (std::vector<std::string>{"10", "20"}));
  CsvOptions no;
  no.header = Header::no;
  expect_error([&] { read_csv(write("b.csv", "a,b\n1,2\n"), no); }, {"b.csv:1:1", "\"a\" is not a number"});
}

TEST_F(Csv, QuotedFieldsAndDoubledQuotes) {
  // Names with the delimiter and quotes; a quoted number; a label spanning two lines.
  const std::string p =
      write("q.csv", "\"a,b\",\"say \"\"hi\"\"\",name\n\"1.5\",2,\"x, \"\"y\"\"\"\n3,4,\"two\nlines\"\n5,6,plain\n");
  CsvOptions o;
  o.label_column = "name";
  const CsvData d = read_csv(p, o);
  EXPECT_EQ(d.features.column_names, (std::vector<std::string>{"a,b", "say \"hi\""}));
  EXPECT_EQ(d.features.data, (std::vector<float>{1.5f, 2, 3, 4, 5, 6}));
  EXPECT_EQ(d.labels, (std::vector<std::string>{"x, \"y\"", "two\nlines", "plain"}));
  EXPECT_EQ(d.label_name, "name");
  // Line numbers after a multi-line field still count physical lines: the bad cell is on line 5.
  const std::string bad = write("q2.csv", "a,b\n1,\"x\ny\"\n2,3\nfoo,4\n");
  CsvOptions o2;
  o2.label_column = "b";
  expect_error([&] { read_csv(bad, o2); }, {"q2.csv:5:1 (column \"a\")", "\"foo\" is not a number"});
}

TEST_F(Csv, LabelColumnByNameAndByIndexKeptApart) {
  const std::string p = write("l.csv", "f1,species,f2\n1,cat,2\n3,dog,4\n");
  CsvOptions by_name;
  by_name.label_column = "species";
  CsvData d = read_csv(p, by_name);
  EXPECT_EQ(d.features.cols, 2);
  EXPECT_EQ(d.features.column_names, (std::vector<std::string>{"f1", "f2"}));
  EXPECT_EQ(d.features.data, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(d.labels, (std::vector<std::string>{"cat", "dog"}));
  // Without a header, a text label column given by index must not make row 1 look like a header.
  CsvOptions by_index;
  by_index.label_column = "1";
  d = read_csv(write("m.csv", "1,cat,2\n3,dog,4\n"), by_index);
  EXPECT_EQ(d.features.rows, 2);
  EXPECT_TRUE(d.features.column_names.empty());
  EXPECT_EQ(d.features.data, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(d.labels, (std::vector<std::string>{"cat", "dog"}));
  // A numeric label column stays text.
  by_index.label_column = "0";
  d = read_csv(write("n.csv", "5,1.5\n6,2.5\n"), by_index);
  EXPECT_EQ(d.labels, (std::vector<std::string>{"5", "6"}));
  EXPECT_EQ(d.features.data, (std::vector<float>{1.5f, 2.5f}));
}

TEST_F(Csv, ColumnsSelectedByNameAndIndexInGivenOrder) {
  const std::string p = write("c.csv", "id,a,b,note,c\n1,10,20,hello,30\n2,11,21,\"w, x\",31\n");
  CsvOptions o;
  o.columns = {"c", "1"};  // name, then index (column "a"); the text column "note" is never parsed
  o.label_column = "id";
  const CsvData d = read_csv(p, o);
  EXPECT_EQ(d.features.cols, 2);
  EXPECT_EQ(d.features.column_names, (std::vector<std::string>{"c", "a"}));
  EXPECT_EQ(d.features.data, (std::vector<float>{30, 10, 31, 11}));
  EXPECT_EQ(d.labels, (std::vector<std::string>{"1", "2"}));
}

TEST_F(Csv, CrlfBomTrailingBlankLinesAndDelimiters) {
  const std::string want_names[] = {"a", "b"};
  for (const std::string& text : {std::string("\xEF\xBB\xBF"
                                              "a,b\r\n1,2\r\n3,4\r\n\r\n"),
                                  std::string("a;b\n1;2\n3;4\n\n\n"), std::string("a\tb\n1\t2\n3\t4"),
                                  std::string("\n\na, b\n1, 2\n3 ,4\n   \n")}) {
    const CsvData d = read_csv(write("d.csv", text));
    EXPECT_EQ(d.features.rows, 2) << text;
    EXPECT_EQ(d.features.column_names, (std::vector<std::string>(std::begin(want_names), std::end(want_names))))
        << text;
    EXPECT_EQ(d.features.data, (std::vector<float>{1, 2, 3, 4})) << text;
  }
}

// European style: ';' separates, ',' would split "1,5" unevenly; detection must pick ';'. Then "1,5"
// is not a number (ae parses '.' decimals only), reported at its place.
TEST_F(Csv, DelimiterDetectionPrefersConsistentSplit) {
  const std::string p = write("e.csv", "a;b\n1,5;2\n3;4\n");
  expect_error([&] { read_csv(p); }, {"e.csv:2:1 (column \"a\")", "\"1,5\" is not a number"});
  CsvOptions o;
  o.delimiter = ';';
  expect_error([&] { read_csv(p, o); }, {"e.csv:2:1"});
  const CsvData one = read_csv(write("one.csv", "v\n1\n2\n"));  // a single column
  EXPECT_EQ(one.features.data, (std::vector<float>{1, 2}));
}

TEST_F(Csv, MaxRowsStopsEarly) {
  const std::string p = write("r.csv", "a\n1\n2\n3\nnot a number\n");
  EXPECT_EQ(read_csv(p, {}, 2).features.data, (std::vector<float>{1, 2}));
  EXPECT_EQ(read_csv(p, {}, 0).features.rows, 0);
  expect_error([&] { read_csv(p); }, {"r.csv:5:1"});
}

TEST_F(Csv, RaggedRowsRefused) {
  expect_error([&] { read_csv(write("r.csv", "a,b,c\n1,2,3\n4,5\n")); },
               {"r.csv:3:3:", "has 2 fields", "the header (line 1) has 3"});
  expect_error([&] { read_csv(write("s.csv", "1,2,3\n4,5,6,7\n")); },
               {"s.csv:2:4:", "has 4 fields", "the first row (line 1) has 3"});
}

TEST_F(Csv, BadCellsRefusedWithPlace) {
  struct Case {
    std::string row, where, what;
  };
  const std::vector<Case> cases = {
      {"1,,3", ":3:2 (column \"age\")", "empty cell"},
      {"1,abc,3", ":3:2 (column \"age\")", "\"abc\" is not a number"},
      {"1,NA,3", ":3:2 (column \"age\")", "missing-value marker"},
      {"1,2,nan", ":3:3 (column \"w\")", "nan is not allowed"},
      {"1,2, NaN ", ":3:3 (column \"w\")", "clean or impute the data first"},
      {"-inf,2,3", ":3:1 (column \"id\")", "infinity is not allowed"},
      {"1,2,1e39", ":3:3 (column \"w\")", "outside the float32 range"},
      {"1,2,3x", ":3:3 (column \"w\")", "\"3x\" is not a number"},
      {"1,\"2\"x,3", ":3:2", "text after the closing quote"},
      {"1,\"2,3", ":3:2", "never closed"},
  };
  for (const Case& c : cases) {
    const std::string p = write("bad.csv", "id,age,w\n0,0,0\n" + c.row + "\n");
    expect_error([&] { read_csv(p); }, {p + c.where, c.what});
  }
  // Without a header there is no name to give, only the position.
  const std::string p = write("nh.csv", "1,2\n3,x\n");
  const std::string msg = expect_error([&] { read_csv(p); }, {p + ":2:2: \"x\" is not a number"});
  EXPECT_EQ(msg.find("column \""), std::string::npos);
}

TEST_F(Csv, ColumnReferencesRefused) {
  const std::string p = write("h.csv", "age,height,kind\n1,2,a\n");
  CsvOptions o;
  o.label_column = "knd";
  expect_error([&] { read_csv(p, o); }, {p, "label column \"knd\" not found", "\"age\", \"height\", \"kind\""});
  o.label_column = "kind";
  o.columns = {"age", "weight"};
  expect_error([&] { read_csv(p, o); }, {p, "column \"weight\" not found", "\"height\""});
  o.columns = {"7"};
  expect_error([&] { read_csv(p, o); }, {p, "column index 7 is out of range", "\"kind\""});
  o.columns = {"kind"};
  expect_error([&] { read_csv(p, o); }, {p, "is the label column"});
  o.columns = {"age", "0"};
  expect_error([&] { read_csv(p, o); }, {p, "selected twice"});
  CsvOptions no_header;
  no_header.label_column = "kind";
  expect_error([&] { read_csv(write("n.csv", "1,2\n"), no_header); }, {"n.csv", "without a header line", "0..1"});
  CsvOptions far;
  far.label_column = "5";
  expect_error([&] { read_csv(write("n2.csv", "1,2\n"), far); }, {"n2.csv", "index 5 is out of range", "indexes 0..1"});
  CsvOptions only_label;
  only_label.label_column = "0";
  expect_error([&] { read_csv(write("n3.csv", "1\n2\n"), only_label); }, {"n3.csv", "no feature columns"});
}

TEST_F(Csv, EmptyHeaderOnlyBlankAndBinaryFilesRefused) {
  expect_error([&] { read_csv(write("e.csv", "")); }, {"e.csv: empty file"});
  expect_error([&] { read_csv(file("missing.csv")); }, {"missing.csv: no such file"});
  expect_error([&] { read_csv(write("h.csv", "a,b\n")); }, {"h.csv: has a header (line 1) but no data rows"});
  expect_error(
      [&] {
        read_csv(write("h2.csv",
                       "\xEF\xBB\xBF"
                       "a,b\r\n\r\n"));
      },
      {"h2.csv", "no data rows"});
  expect_error([&] { read_csv(write("b.csv", "\n \n\n")); }, {"b.csv: no data"});
  expect_error([&] { read_csv(write("m.csv", "a,b\n1,2\n\n3,4\n")); }, {"m.csv:3:1: blank line inside the data"});
  expect_error([&] { read_csv(write("z.csv", std::string("a,b\n1,\0\n", 8))); }, {"z.csv: binary content"});
}

TEST_F(Csv, IntColumnForLabels) {
  EXPECT_EQ(read_csv_int_column(write("a.csv", "label\n0\n1\n1.0\n"), ""), (std::vector<int32_t>{0, 1, 1}));
  EXPECT_EQ(read_csv_int_column(write("b.csv", "1\r\n0\r\n"), ""), (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(read_csv_int_column(write("c.csv", "x,y,anomaly\n0.5,abc,1\n0.25,def,0\n"), "anomaly"),
            (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(read_csv_int_column(write("c2.csv", "0.5,abc,1\n0.25,def,0\n"), "2"), (std::vector<int32_t>{1, 0}));
  expect_error([&] { read_csv_int_column(write("d.csv", "a,b\n1,2\n"), ""); }, {"d.csv:1:", "has 2 fields"});
  expect_error([&] { read_csv_int_column(write("e.csv", "y\n0\n0.5\n"), ""); },
               {"e.csv:3:1 (column \"y\")", "\"0.5\" is not an integer label"});
  expect_error([&] { read_csv_int_column(write("f.csv", "y\n0\n\n1\n"), ""); }, {"f.csv:3:1", "blank line"});
}

TEST_F(Csv, SaveCsvRoundTripsBitExact) {
  std::mt19937 rng(7);
  const int64_t rows = 257, cols = 5;
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (float& v : x) {
    uint32_t bits = rng();
    while (!std::isfinite(std::bit_cast<float>(bits))) bits = rng();
    v = std::bit_cast<float>(bits);  // every exponent: huge, tiny, subnormal, negative zero
  }
  x[0] = -0.0f;
  x[1] = std::numeric_limits<float>::denorm_min();
  x[2] = std::numeric_limits<float>::max();
  x[3] = 0.1f;
  const std::vector<std::string> names = {"a", "b,c", "say \"x\"", " padded", "e"};
  const std::string p = file("rt.csv");
  save_csv(p, x.data(), rows, cols, names);
  EXPECT_EQ(read_all(p).substr(0, 34), "a,\"b,c\",\"say \"\"x\"\"\",\" padded\",e\n-0");
  const CsvData d = read_csv(p);
  ASSERT_EQ(d.features.rows, rows);
  ASSERT_EQ(d.features.cols, cols);
  EXPECT_EQ(d.features.column_names, names);
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>(d.features.data[i]), std::bit_cast<uint32_t>(x[i])) << "element " << i;
  // Tab-separated, no header.
  save_csv(file("rt.tsv"), x.data(), rows, cols, {}, '\t');
  const CsvData t = read_csv(file("rt.tsv"));
  EXPECT_TRUE(t.features.column_names.empty());
  EXPECT_EQ(std::memcmp(t.features.data.data(), x.data(), x.size() * 4), 0);
}

TEST_F(Csv, SaveCsvRefusesBadArgumentsAndLeavesNoFile) {
  const float x[4] = {1, 2, 3, 4};
  expect_error([&] { save_csv(file("a.csv"), x, 2, 2, {"only one"}); }, {"a.csv", "1 names for 2 columns"});
  expect_error([&] { save_csv(file("a.csv"), nullptr, 2, 2); }, {"a.csv", "no data"});
  expect_error([&] { save_csv(file("a.csv"), x, -1, 2); }, {"a.csv"});
  expect_error([&] { save_csv(file("no/dir/a.csv"), x, 2, 2); }, {"no/dir/a.csv"});
  EXPECT_TRUE(fs::is_empty(m_dir));
}

}  // namespace
}  // namespace ae
