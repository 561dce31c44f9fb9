// `ae report` end to end: a tiny model trained on a Fashion-MNIST subset, its report written, every
// figure the page references present at the size the page gives it, and the page rendered by
// headless Chromium with every figure visible in the screenshot (a deleted figure must show as
// a blank frame and be caught). Bad inputs are one-line errors that write nothing.
#include <png.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <map>
#include <regex>
#include <thread>

#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

const std::string TEST_LABELS = FASHION_DIR + "t10k-labels-idx1-ubyte.gz";
const std::vector<std::string> FIGURES = {"codes.png", "loss.png", "reconstructions.png", "scores.png", "top-anomalies.png"};

struct Rgb {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // [height, width, 3]
  const uint8_t* at(int64_t x, int64_t y) const { return &pixels[size_t((y * width + x) * 3)]; }
};

// A PNG read through libpng's simplified API as 8-bit RGB, whatever its own format.
Rgb read_rgb_png(const std::string& path) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  Rgb g;
  if (!png_image_begin_read_from_file(&image, path.c_str())) {
    ADD_FAILURE() << "libpng cannot read " << path << ": " << image.message;
    return g;
  }
  image.format = PNG_FORMAT_RGB;
  g.width = image.width, g.height = image.height;
  g.pixels.resize(PNG_IMAGE_SIZE(image));
  png_color white{255, 255, 255};  // what a transparent pixel is composed on
  if (!png_image_finish_read(&image, &white, g.pixels.data(), 0, nullptr)) {
    ADD_FAILURE() << "libpng cannot decode " << path << ": " << image.message;
    g = {};
  }
  return g;
}

void train(const ScratchDir& dir, const std::string& model, const std::string& spec, const std::string& steps) {
  expect_success(run_ae({"train", "--spec",  spec,    "--data",  TEST_IMAGES,    "--max-rows",  "1000", "--val-split",
                         "0.2",   "--steps", steps,   "--batch", "64",           "--log-every", "10",   "--threads",
                         "2",     "--quiet", "--out", model,     "--checkpoint", "none"},
                        dir));
}

// The figures index.html shows: src → {width, height} of each <img>.
std::map<std::string, std::pair<int64_t, int64_t>> page_images(const std::string& html) {
  std::map<std::string, std::pair<int64_t, int64_t>> out;
  const std::regex img(R"re(<img src="([^"]+)" width="(\d+)" height="(\d+)")re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), img); it != std::sregex_iterator(); ++it)
    out[(*it)[1]] = {std::stoll((*it)[2]), std::stoll((*it)[3])};
  return out;
}

// The first executable named `names` on PATH, or empty.
std::string find_on_path(const std::vector<std::string>& names) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/bin:/bin");
  std::vector<std::string> dirs;
  for (std::string d; std::getline(ss, d, ':');) dirs.push_back(d);
  for (const auto& n : names)
    for (const auto& d : dirs)
      if (::access((d + "/" + n).c_str(), X_OK) == 0) return d + "/" + n;
  return "";
}

// index.html rendered by headless Chromium into `shot` (a PNG of the window: the page must fit in it).
void render(const ScratchDir& dir, const std::string& html, const std::string& shot) {
  const std::string chromium = find_on_path({"chromium", "chromium-browser", "google-chrome"});
  ASSERT_FALSE(chromium.empty())
      << "chromium is not installed: cmake/install-deps.sh installs it (Debian package chromium); "
         "this test renders the report with it and is never skipped";
  std::vector<std::string> args = {chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                   "--user-data-dir=" + dir / "chromium-profile", "--window-size=1320,3200",
                                   "--screenshot=" + shot, "file://" + fs::absolute(html).string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!std::freopen((dir / "chromium.log").c_str(), "w", stdout) ||
        !std::freopen((dir / "chromium.log").c_str(), "a", stderr))
      ::_exit(126);
    ::execv(chromium.c_str(), argv.data());
    ::_exit(127);
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL() << "chromium did not finish in 120 s; log: " << read_text(dir / "chromium.log");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "chromium failed: " << read_text(dir / "chromium.log");
  ASSERT_TRUE(fs::exists(shot)) << read_text(dir / "chromium.log");
}

// A figure's frame found in a screenshot: the page draws each figure inside a 2-pixel border of
// exactly rgb(200, 206, 214), a colour nothing else on the page uses.
struct Frame {
  int64_t x = 0, y = 0, width = 0, height = 0;  // the border's outer box
  int covered = 0;                               // of the 4×4 cells of the inside, how many hold a non-white pixel
  double variance = 0;                           // of the inside's luminance
};

bool is_frame_colour(const uint8_t* p) { return p[0] == 200 && p[1] == 206 && p[2] == 214; }

// A picture fills its frame: most cells hold something (axes, grid lines, points, images). A
// missing picture leaves Chromium's small broken-image icon and alt text in one corner.
// Measured: drawn figures cover 14–16 cells with luminance variance ≥ 750; a deleted one 1–2
// cells and 25–42 (drawn() below sits between the two).
Frame measure(const Rgb& s, Frame f) {
  const int64_t x0 = f.x + 2, y0 = f.y + 2, w = f.width - 4, h = f.height - 4;
  bool cell[4][4] = {};
  double sum = 0, sum2 = 0;
  for (int64_t y = y0; y < y0 + h; ++y)
    for (int64_t x = x0; x < x0 + w; ++x) {
      const uint8_t* p = s.at(x, y);
      const double lum = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
      sum += lum, sum2 += lum * lum;
      if (p[0] != 255 || p[1] != 255 || p[2] != 255) cell[(y - y0) * 4 / h][(x - x0) * 4 / w] = true;
    }
  for (auto& row : cell)
    for (bool c : row) f.covered += c;
  const double n = double(w * h);
  f.variance = sum2 / n - (sum / n) * (sum / n);
  return f;
}

std::vector<Frame> find_frames(const Rgb& s) {
  std::vector<Frame> frames;
  for (int64_t y = 0; y < s.height; ++y)
    for (int64_t x = 0; x < s.width; ++x) {
      if (!is_frame_colour(s.at(x, y)) || (x > 0 && is_frame_colour(s.at(x - 1, y))) ||
          (y > 0 && is_frame_colour(s.at(x, y - 1))))
        continue;
      Frame f{x, y, 0, 0};
      while (x + f.width < s.width && is_frame_colour(s.at(x + f.width, y))) ++f.width;
      while (y + f.height < s.height && is_frame_colour(s.at(x, y + f.height))) ++f.height;
      if (f.width < 40 || f.height < 40) continue;
      bool closed = true;  // the right and bottom edges too: a whole rectangle
      for (int64_t i = 0; i < f.height && closed; ++i) closed = is_frame_colour(s.at(x + f.width - 1, y + i));
      for (int64_t i = 0; i < f.width && closed; ++i) closed = is_frame_colour(s.at(x + i, y + f.height - 1));
      if (closed) frames.push_back(measure(s, f));
    }
  return frames;
}

std::string describe(const std::vector<Frame>& frames) {
  std::string s;
  for (const auto& f : frames)
    s += "\n  frame at (" + std::to_string(f.x) + ", " + std::to_string(f.y) + ") " + std::to_string(f.width) + "×" +
         std::to_string(f.height) + ": " + std::to_string(f.covered) + "/16 cells drawn, luminance variance " +
         std::to_string(f.variance);
  return s;
}

bool drawn(const Frame& f) { return f.covered >= 10 && f.variance > 100; }

TEST(ReportCli, EveryFigureIsWrittenReferencedAndVisibleInChromium) {
  ScratchDir dir;
  const std::string model = dir / "m.safetensors", out = dir / "report";
  train(dir, model, "784-64r-8-64r-784s", "60");
  RunResult r = run_ae({"report", "--model", model, "--data", TEST_IMAGES, "--max-rows", "600", "--labels", TEST_LABELS,
                        "--anomaly-label", "9", "--out", out, "--threads", "2"},
                       dir);
  expect_success(r);
  EXPECT_NE(r.out.find("report written to " + out + "/index.html"), std::string::npos) << r.out;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(out)) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  std::vector<std::string> want = FIGURES;
  want.push_back("index.html");
  std::sort(want.begin(), want.end());
  EXPECT_EQ(files, want) << "the figures and the page, no scratch left";

  const std::string html = read_text(out + "/index.html");
  const auto images = page_images(html);
  ASSERT_EQ(images.size(), FIGURES.size()) << html;
  for (const auto& [src, size] : images) {
    EXPECT_TRUE(std::find(FIGURES.begin(), FIGURES.end(), src) != FIGURES.end()) << src;
    const Rgb png = read_rgb_png(out + "/" + src);
    EXPECT_EQ(std::pair(png.width, png.height), size) << src << ": the page's size for it differs from the file's";
  }
  for (const char* text : {"784-64r-8-64r-784s", "AUROC", "average precision", "9 (anomaly)",
                           "principal components of the 8-unit code", "the 0.99 quantile", "reconstruction MSE"})
    EXPECT_NE(html.find(text), std::string::npos) << text;

  // The page as a browser shows it: one frame per figure, each filled.
  const std::string shot = dir / "shot.png";
  ASSERT_NO_FATAL_FAILURE(render(dir, out + "/index.html", shot));
  const std::vector<Frame> frames = find_frames(read_rgb_png(shot));
  ASSERT_EQ(frames.size(), FIGURES.size()) << "frames in " << shot << describe(frames);
  for (const auto& f : frames) EXPECT_TRUE(drawn(f)) << "a figure is blank in " << shot << describe(frames);

  // A figure gone from the directory: its frame stays in place, empty, and is caught.
  fs::remove(out + "/codes.png");
  const std::string broken = dir / "broken.png";
  ASSERT_NO_FATAL_FAILURE(render(dir, out + "/index.html", broken));
  const std::vector<Frame> after = find_frames(read_rgb_png(broken));
  ASSERT_EQ(after.size(), FIGURES.size()) << describe(after);
  int blank = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].x, frames[i].x);
    EXPECT_EQ(after[i].y, frames[i].y);
    blank += !drawn(after[i]);
  }
  EXPECT_EQ(blank, 1) << "the deleted codes.png must show as the one blank frame" << describe(after);
}

// An untrained model's page says it has no history; a second report into the same directory
// replaces the first one's figures (removing those it does not draw) and leaves other files alone.
TEST(ReportCli, UntrainedModelAndRerunIntoTheSameDirectory) {
  ScratchDir dir;
  const std::string trained = dir / "t.safetensors", fresh = dir / "f.safetensors", out = dir / "report";
  train(dir, trained, "784-32r-2v-32r-784s", "20");  // a VAE with a 2-D code: drawn as itself, μ
  train(dir, fresh, "784-32r-6-32r-784s", "0");
  fs::create_directory(out);
  write_bytes(out + "/notes.txt", "mine");
  // The scratch of a killed run (its pid long gone) is cleared; nothing else of the user's is.
  fs::create_directory(out + "/.tmp-report-999999-AbCdEf");
  write_bytes(out + "/.tmp-report-999999-AbCdEf/loss.png", "half");
  expect_success(
      run_ae({"report", "--model", trained, "--data", TEST_IMAGES, "--max-rows", "200", "--out", out, "--quiet"}, dir));
  const std::string vae_html = read_text(out + "/index.html");
  EXPECT_NE(vae_html.find("the mean code μ itself (2 units)"), std::string::npos) << "a 2-D code is drawn as itself";
  EXPECT_NE(vae_html.find("negative ELBO"), std::string::npos);
  EXPECT_TRUE(fs::exists(out + "/loss.png"));

  expect_success(
      run_ae({"report", "--model", fresh, "--data", TEST_IMAGES, "--max-rows", "200", "--out", out, "--quiet"}, dir));
  const std::string html = read_text(out + "/index.html");
  EXPECT_NE(html.find("never trained"), std::string::npos) << html;
  EXPECT_EQ(html.find("By label"), std::string::npos) << "no labels, no table";
  EXPECT_FALSE(fs::exists(out + "/loss.png")) << "the first report's loss curve must not stay beside a page without one";
  EXPECT_EQ(read_text(out + "/notes.txt"), "mine");
  EXPECT_FALSE(fs::exists(out + "/.tmp-report-999999-AbCdEf"));
  EXPECT_EQ(page_images(html).size(), FIGURES.size() - 1);
}

// The report ranks its top anomalies and counts the rows above the threshold as `ae score` does
// (runtime/latent.h's top_k and count_above): the same rows in the same order, the same count.
TEST(ReportCli, TopRowsAndCountAgreeWithScore) {
  ScratchDir dir;
  const std::string model = dir / "m.safetensors", out = dir / "report";
  expect_success(run_ae({"train", "--spec", "784-16r-4-16r-784s", "--data", TEST_IMAGES, "--max-rows", "300", "--steps", "10",
                         "--batch", "64", "--threads", "2", "--contamination", "0.1", "--quiet", "--out", model,
                         "--checkpoint", "none"},
                        dir));
  expect_success(run_ae({"report", "--model", model, "--data", TEST_IMAGES, "--max-rows", "300", "--out", out, "--quiet"}, dir));
  const RunResult sc = run_ae({"score", "--model", model, "--data", TEST_IMAGES, "--max-rows", "300", "--top", "16", "--out",
                               dir / "s.csv", "--quiet"},
                              dir);
  expect_success(sc);
  const std::string html = read_text(out + "/index.html");
  std::vector<std::string> report_rows, score_rows;
  const std::regex li("<li>row ([0-9]+) ");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), li); it != std::sregex_iterator(); ++it)
    report_rows.push_back((*it)[1]);
  const std::regex top_line("\n +([0-9]+) +[-0-9.e+naif]+(?=\n)");
  for (auto it = std::sregex_iterator(sc.out.begin(), sc.out.end(), top_line); it != std::sregex_iterator(); ++it)
    score_rows.push_back((*it)[1]);
  EXPECT_EQ(report_rows.size(), 16u) << html;
  EXPECT_EQ(report_rows, score_rows) << sc.out;
  std::smatch flagged, above;
  ASSERT_TRUE(std::regex_search(sc.out, flagged, std::regex(": ([0-9]+) rows flagged"))) << sc.out;
  ASSERT_TRUE(std::regex_search(html, above, std::regex("; ([0-9]+) rows \\([0-9.]+ %\\) score above"))) << html;
  EXPECT_EQ(flagged[1], above[1]);
}

// A gnuplot that fails (here a stand-in on PATH that exits 1 after the first figure) ends the run
// with one line naming it; the previous report in the directory stays whole, no scratch is left,
// and a directory the run would have made is not made.
TEST(ReportCli, AFailureMidwayLeavesThePreviousReportWhole) {
  ScratchDir dir;
  const std::string model = dir / "m.safetensors", out = dir / "report";
  train(dir, model, "784-32r-6-32r-784s", "20");
  const std::vector<std::string> args = {"report",     "--model", model,     "--data", TEST_IMAGES,
                                         "--max-rows", "100",     "--quiet", "--out"};
  auto with_out = [&](const std::string& o) {
    std::vector<std::string> a = args;
    a.push_back(o);
    return a;
  };
  expect_success(run_ae(with_out(out), dir));
  std::map<std::string, std::string> before;
  for (const auto& e : fs::directory_iterator(out)) before[e.path().filename().string()] = read_text(e.path().string());

  const std::string bin = dir / "fakebin";
  fs::create_directory(bin);
  const std::string real = find_on_path({"gnuplot"});
  ASSERT_FALSE(real.empty()) << "gnuplot-nox is not installed (cmake/install-deps.sh installs it)";
  // The first call draws for real, the second fails: the scratch then holds a finished figure.
  write_bytes(bin + "/gnuplot", "#!/bin/sh\nif [ -e ../../calls ]; then echo 'line 9: boom' >&2; exit 1; fi\n"
                                ": > ../../calls\nexec " + real + " \"$@\"\n");
  fs::permissions(bin + "/gnuplot", fs::perms::owner_all);
  const std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", bin.c_str(), 1);
  RunResult r = run_ae(with_out(out), dir);
  fs::remove(dir / "calls");
  RunResult fresh = run_ae(with_out(dir / "new-report"), dir);
  ::setenv("PATH", path.c_str(), 1);

  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("gnuplot failed drawing"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("boom"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  std::map<std::string, std::string> after;
  for (const auto& e : fs::directory_iterator(out)) after[e.path().filename().string()] = read_text(e.path().string());
  EXPECT_TRUE(after == before) << "the previous report must be left exactly as it was, with no scratch beside it";
  EXPECT_EQ(fresh.exit_code, 1) << fresh.err;
  EXPECT_FALSE(fs::exists(dir / "new-report")) << "a failed run must not leave the directory it made";

  // Under a file-size limit gnuplot cuts its PNG short and still exits 0: the figure is decoded
  // before it counts, so this too is one line and the previous report stays whole.
  RunResult limited = run_ae(with_out(out), dir, 8000);
  EXPECT_EQ(limited.exit_code, 1) << limited.err;
  EXPECT_NE(limited.err.find("gnuplot wrote a broken loss.png (8000 bytes"), std::string::npos) << limited.err;
  EXPECT_EQ(std::count(limited.err.begin(), limited.err.end(), '\n'), 1) << limited.err;
  after.clear();
  for (const auto& e : fs::directory_iterator(out)) after[e.path().filename().string()] = read_text(e.path().string());
  EXPECT_TRUE(after == before) << "a report cut short by a file-size limit must leave the previous one as it was";
}

// Rows that are not images (a 16-column table): no image grids, the page says why, the rest is drawn;
// text labels from --label-column colour the codes and fill the table.
TEST(ReportCli, TabularDataWithTextLabels) {
  ScratchDir dir;
  std::string csv = "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,kind\n";
  for (int r = 0; r < 300; ++r) {
    for (int c = 0; c < 16; ++c) csv += std::to_string(((r * 7 + c * 13) % 17) / 17.0 + (r % 3 == 2 ? 0.5 : 0.0)) + ",";
    csv += r % 3 == 2 ? "odd\n" : r % 3 ? "b<eta>\n" : "alpha\n";
  }
  const std::string data = dir / "t.csv", model = dir / "m.safetensors", out = dir / "report";
  write_bytes(data, csv);
  expect_success(run_ae({"train", "--spec", "16-8r-3-8r-16", "--data", data, "--label-column", "kind", "--steps", "30",
                         "--batch", "32", "--no-val", "--quiet", "--out", model, "--checkpoint", "none"},
                        dir));
  expect_success(run_ae({"report", "--model", model, "--data", data, "--label-column", "kind", "--anomaly-label", "odd",
                         "--out", out, "--quiet"},
                        dir));
  const std::string html = read_text(out + "/index.html");
  EXPECT_NE(html.find("16 features are not taken for a square image"), std::string::npos) << html;
  EXPECT_NE(html.find("b&lt;eta&gt;"), std::string::npos) << "labels are escaped in the page";
  EXPECT_NE(html.find("AUROC"), std::string::npos);
  const auto images = page_images(html);
  EXPECT_EQ(images.size(), 3u);
  for (const char* name : {"loss.png", "scores.png", "codes.png"}) EXPECT_TRUE(images.count(name)) << name;
  EXPECT_FALSE(fs::exists(out + "/reconstructions.png"));
}

TEST(ReportCli, BadInputsAreOneLineErrorsThatWriteNothing) {
  ScratchDir dir;
  const std::string model = dir / "m.safetensors";
  train(dir, model, "784-32r-6-32r-784s", "5");
  const std::string labels5 = dir / "five.csv";
  write_bytes(labels5, "0\n1\n2\n3\n4\n");
  write_bytes(dir / "file", "x");
  const std::vector<std::string> base = {"report", "--data", TEST_IMAGES, "--max-rows", "50", "--quiet"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const std::string out = dir / "r";
  expect_one_line_error(dir, with({"--model", dir / "none.safetensors", "--out", out}), "none.safetensors");
  expect_one_line_error(dir, with({"--model", model, "--labels", labels5, "--out", out}),
                        "--labels " + labels5 + ": 5 labels for the 50 rows of --data " + TEST_IMAGES);
  expect_one_line_error(dir, with({"--model", model, "--image-shape", "27x28", "--out", out}), "--image-shape");
  expect_one_line_error(dir, with({"--model", model, "--out", dir / "no/such/dir"}), "--out " + dir / "no/such/dir");
  expect_one_line_error(dir, with({"--model", model, "--out", dir / "file"}), "is a file, not a directory");
  expect_one_line_error(dir, with({"--model", model, "--anomaly-label", "9", "--out", out}), "--anomaly-label needs labels");
  expect_one_line_error(dir, with({"--model", model, "--labels", TEST_LABELS, "--anomaly-label", "12", "--out", out}),
                        "--anomaly-label 12: no row");
  // Without gnuplot: refused before any work, naming the package to install.
  const std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  ::setenv("PATH", (dir / "empty-path").c_str(), 1);
  expect_one_line_error(dir, with({"--model", model, "--out", out}), "gnuplot not found on PATH; install gnuplot-nox");
  ::setenv("PATH", path.c_str(), 1);
}

}  // namespace
}  // namespace ae::e2e
