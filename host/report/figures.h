// The report's plots: each writes its data and a gnuplot script into the scratch directory and
// runs gnuplot there (plot.h), drawing one PNG of a fixed size. Axis ranges are computed here,
// never left to gnuplot's autoscaling, whose warnings on a degenerate range (one history point,
// equal scores) would fail the run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "host/report/report.h"

namespace ae::report {

// A figure of the page: a PNG in the scratch directory, or why there is none.
struct Figure {
  std::string file;              // e.g. "loss.png"; empty when not drawn
  int64_t width = 0, height = 0;  // the PNG's size in pixels
  std::string caption;           // plain text under the figure
  std::string note;              // plain text: why it was not drawn (file empty)
};

// The distinct labels in display order: numerically when every label is an integer, else as text.
std::vector<std::string> label_classes(const std::vector<std::string>& labels);

// Beyond this many classes the codes are not coloured by label: a legend of hundreds of entries
// reads as noise (the labels are then more likely a continuous value than classes).
inline constexpr size_t k_max_coloured_classes = 20;
// The most points the code scatter draws; larger data sets are drawn every k-th row.
inline constexpr int64_t k_max_scatter_points = 10000;

// Training (and validation) loss against the optimizer step, from the model's history; the y axis
// is logarithmic when the values span more than a factor of 20. Not drawn without history.
Figure draw_loss(const std::string& dir, const ReportInput& in, const std::string& gnuplot);
// The codes in 2-D (the code itself when 2-D, else its first two principal components; a 1-D
// code against the score), coloured by label when there are labels.
Figure draw_codes(const std::string& dir, const ReportInput& in, const std::string& gnuplot);
// The histogram of the scores with the threshold drawn; with an anomaly label, normal and
// anomalous rows as two overlaid histograms. `above`: the rows above the threshold, for the caption.
Figure draw_scores(const std::string& dir, const ReportInput& in, int64_t above, const std::string& gnuplot);

}  // namespace ae::report
