// Convolutional layers in a spec (issue 12): compact tokens, typed JSON layers, PyTorch's shape
// formulas and the one-line shape errors. Dense layers stay graph/spec.cpp's.
#include "graph/spec_conv.h"

#include <cctype>
#include <charconv>

#include <nlohmann/json.hpp>

#include "graph/json_text.h"
#include "kernels/common/error.h"

namespace ae {

namespace {
// Every size a spec gives (channels, kernel, stride, padding, ...) and every tensor's element
// count stay below this, so products of them cannot overflow int64.
constexpr int64_t MAX_SIZE = int64_t(1) << 24;

std::string q(std::string_view text) { return quote_bytes(text, 40, '\''); }

constexpr const char* TOKENS_HELP =
    "C<out>k<k>[s<stride>][p<pad>][d<dil>][b0][act] conv, T<out>k<k>[s][p][o<outpad>][d][b0][act] transposed conv, "
    "M<k>[s][p] max pool, A<k>[s][p] avg pool, U<scale> upsample, R<C>x<H>x<W> reshape";

// A whole-string non-negative integer, or -1.
int64_t digits_value(std::string_view d) {
  int64_t v = -1;
  auto [p, ec] = std::from_chars(d.data(), d.data() + d.size(), v);
  if (d.empty() || ec != std::errc() || p != d.data() + d.size() || v > MAX_SIZE) return -1;
  return v;
}

// "AxBxC" → {A, B, C}, each ≥ 1; nullopt when malformed.
std::optional<Shape> parse_dims(std::string_view t) {
  Shape s;
  for (size_t start = 0;;) {
    const size_t x = t.find('x', start);
    const int64_t v = digits_value(t.substr(start, x == std::string_view::npos ? std::string_view::npos : x - start));
    if (v < 1) return std::nullopt;
    s.push_back(v);
    if (x == std::string_view::npos) break;
    start = x + 1;
  }
  if (s.size() != 3) return std::nullopt;
  return s;
}

bool is_pool(LayerKind k) { return k == LayerKind::max_pool2d || k == LayerKind::avg_pool2d; }

// The parameters a kind takes, for messages and JSON's field check: (JSON name, compact letter).
struct Param {
  const char* json;
  char letter;
  int64_t LayerSpec::*field;
  int64_t min;
};
constexpr Param STRIDE{"stride", 's', &LayerSpec::stride, 1}, PADDING{"padding", 'p', &LayerSpec::padding, 0},
    DILATION{"dilation", 'd', &LayerSpec::dilation, 1}, OUTPAD{"output_padding", 'o', &LayerSpec::output_padding, 0},
    KERNEL{"kernel", 'k', &LayerSpec::kernel, 1};
std::vector<Param> optional_params(LayerKind k) {
  switch (k) {
    case LayerKind::conv2d: return {KERNEL, STRIDE, PADDING, DILATION};
    case LayerKind::conv_transpose2d: return {KERNEL, STRIDE, PADDING, OUTPAD, DILATION};
    case LayerKind::max_pool2d:
    case LayerKind::avg_pool2d: return {STRIDE, PADDING};
    default: return {};
  }
}
}  // namespace

const char* layer_kind_name(LayerKind k) {
  switch (k) {
    case LayerKind::dense: return "dense";
    case LayerKind::conv2d: return "conv2d";
    case LayerKind::conv_transpose2d: return "conv_transpose2d";
    case LayerKind::max_pool2d: return "max_pool2d";
    case LayerKind::avg_pool2d: return "avg_pool2d";
    case LayerKind::upsample: return "upsample";
    case LayerKind::reshape: return "reshape";
  }
  return "?";
}

int64_t shape_elements(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_string(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

namespace spec_conv {

bool is_layer_token(std::string_view t) { return !t.empty() && std::string_view("CTMAUR").find(t[0]) != std::string_view::npos; }

LayerSpec parse_layer_token(std::string_view token, std::string_view origin) {
  const auto bad = [&](const std::string& why) { AE_FAIL(origin, ": layer ", q(token), ": ", why, " (", TOKENS_HELP, ")"); };
  LayerSpec l;
  const char k = token[0];
  std::string_view t = token.substr(1);
  if (k == 'R') {
    const auto dims = parse_dims(t);
    if (!dims) bad("a reshape needs its target shape C x H x W, e.g. R32x7x7");
    l.kind = LayerKind::reshape;
    l.shape = *dims;
    return l;
  }
  size_t i = 0;
  while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
  const int64_t first = digits_value(t.substr(0, i));
  if (first < 1) bad(std::string("'") + k + "' must be followed by a number ≥ 1");
  if (k == 'U') {
    if (i != t.size()) bad("an upsample is U and its integer scale only, e.g. U2");
    l.kind = LayerKind::upsample;
    l.scale = first;
    return l;
  }
  l.kind = k == 'C' ? LayerKind::conv2d : k == 'T' ? LayerKind::conv_transpose2d : k == 'M' ? LayerKind::max_pool2d : LayerKind::avg_pool2d;
  if (l.is_conv()) l.channels = first;
  else l.kernel = first;
  const std::vector<Param> params = optional_params(l.kind);
  bool stride_given = false;
  std::string seen;
  // A letter followed by digits is a parameter; a letter alone at the end is the activation.
  while (i < t.size()) {
    const char c = t[i];
    size_t j = i + 1;
    while (j < t.size() && std::isdigit(static_cast<unsigned char>(t[j]))) ++j;
    if (j == i + 1) {
      if (j != t.size()) bad(std::string("'") + c + "' is neither a parameter (a letter and digits) nor the activation (a letter at the end)");
      if (c == 'b') bad("'b' takes 0 (no bias), e.g. C16k3b0");
      if (!l.is_conv()) bad(std::string("a ") + layer_kind_name(l.kind) + " has no activation; '" + c + "' is not one of its parameters");
      if (c == 'v') bad("a convolutional layer cannot be variational ('v'): not yet with convolutional layers");
      const auto act = parse_act_letter(c);
      if (!act) bad(std::string("unknown activation letter '") + c + "' (letters: l linear, r relu, k leaky_relu, s sigmoid, t tanh, u selu, e elu, p softplus, g gelu)");
      l.act = *act;
      break;
    }
    const int64_t v = digits_value(t.substr(i + 1, j - i - 1));
    if (seen.find(c) != std::string::npos) bad(std::string("parameter '") + c + "' is given twice");
    seen += c;
    if (c == 'b' && l.is_conv()) {
      if (v != 0) bad("'b' takes 0 (no bias); a bias is the default");
      l.bias = false;
    } else {
      const Param* p = nullptr;
      for (const Param& x : params)
        if (x.letter == c) p = &x;
      if (!p) {
        std::string allowed;
        for (const Param& x : params) allowed += std::string(allowed.empty() ? "" : ", ") + x.letter + " " + x.json;
        if (l.is_conv()) allowed += ", b0 no bias";
        bad(std::string("unknown parameter '") + c + "' for a " + layer_kind_name(l.kind) + "; expected: " + allowed);
      }
      if (v < p->min) bad(std::string(p->json) + " must be an integer ≥ " + std::to_string(p->min));
      l.*(p->field) = v;
      stride_given |= c == 's';
    }
    i = j;
  }
  if (l.is_conv() && l.kernel == 0) bad("a convolution needs its kernel size, e.g. C16k3");
  if (is_pool(l.kind) && !stride_given) l.stride = l.kernel;  // PyTorch: stride defaults to the kernel
  return l;
}

std::string layer_token(const LayerSpec& l) {
  const auto num = [](char c, int64_t v) { return c + std::to_string(v); };
  switch (l.kind) {
    case LayerKind::upsample: return num('U', l.scale);
    case LayerKind::reshape: return "R" + std::to_string(l.shape[0]) + "x" + std::to_string(l.shape[1]) + "x" + std::to_string(l.shape[2]);
    case LayerKind::max_pool2d:
    case LayerKind::avg_pool2d: {
      std::string s = num(l.kind == LayerKind::max_pool2d ? 'M' : 'A', l.kernel);
      if (l.stride != l.kernel) s += num('s', l.stride);
      if (l.padding != 0) s += num('p', l.padding);
      return s;
    }
    default: break;
  }
  std::string s = num(l.kind == LayerKind::conv2d ? 'C' : 'T', l.channels) + num('k', l.kernel);
  if (l.stride != 1) s += num('s', l.stride);
  if (l.padding != 0) s += num('p', l.padding);
  if (l.output_padding != 0) s += num('o', l.output_padding);
  if (l.dilation != 1) s += num('d', l.dilation);
  if (!l.bias) s += "b0";
  if (l.act != Act::linear) s += act_letter(l.act);
  return s;
}

std::optional<Shape> parse_input_token(std::string_view token, std::string_view origin) {
  if (token.find('x') == std::string_view::npos) return std::nullopt;
  auto dims = parse_dims(token);
  if (!dims) AE_FAIL(origin, ": input ", q(token), " must be a width (784) or an image shape CxHxW (1x28x28), each ≥ 1");
  if (shape_elements(*dims) > MAX_SIZE) AE_FAIL(origin, ": input ", q(token), " has more than ", MAX_SIZE, " elements");
  return dims;
}

namespace {
int64_t int_field(const nlohmann::json& j, const std::string& field, int64_t min, std::string_view origin) {
  if (!j.is_number_integer() || j.get<int64_t>() < min || j.get<int64_t>() > MAX_SIZE)
    AE_FAIL(origin, ": ", field, " must be an integer between ", min, " and ", MAX_SIZE, ", got ", json_shown(j));
  return j.get<int64_t>();
}
}  // namespace

LayerSpec parse_layer_json(const nlohmann::json& j, const std::string& where, std::string_view origin) {
  static const std::pair<const char*, LayerKind> KINDS[] = {
      {"conv2d", LayerKind::conv2d},         {"conv_transpose2d", LayerKind::conv_transpose2d}, {"max_pool2d", LayerKind::max_pool2d},
      {"avg_pool2d", LayerKind::avg_pool2d}, {"upsample", LayerKind::upsample},                 {"reshape", LayerKind::reshape}};
  LayerSpec l;
  const nlohmann::json& type = j["type"];
  bool known = false;
  for (const auto& [name, kind] : KINDS)
    if (type.is_string() && type.get<std::string>() == name) l.kind = kind, known = true;
  if (!known)
    AE_FAIL(origin, ": unknown layer type ", json_shown(type), " in ", where,
            ".type; expected one of: dense, conv2d, conv_transpose2d, max_pool2d, avg_pool2d, upsample, reshape");
  // The fields this kind takes; the required ones first.
  std::vector<std::string> fields = {"type"};
  if (l.is_conv()) fields.insert(fields.end(), {"out_channels", "kernel", "stride", "padding", "dilation", "bias", "act"});
  if (l.kind == LayerKind::conv_transpose2d) fields.push_back("output_padding");
  if (is_pool(l.kind)) fields.insert(fields.end(), {"kernel", "stride", "padding"});
  if (l.kind == LayerKind::upsample) fields.push_back("scale");
  if (l.kind == LayerKind::reshape) fields.push_back("shape");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (std::find(fields.begin(), fields.end(), it.key()) == fields.end()) {
      std::string list;
      for (const auto& f : fields) list += (list.empty() ? "" : ", ") + f;
      AE_FAIL(origin, ": unknown field ", q(it.key()), " in ", where, " (", layer_kind_name(l.kind), "); expected: ", list);
    }
  const auto need = [&](const char* f) -> const nlohmann::json& {
    if (!j.contains(f)) AE_FAIL(origin, ": ", where, ".", f, " is missing (a ", layer_kind_name(l.kind), " needs it)");
    return j[f];
  };
  const auto opt = [&](const char* f, int64_t& v, int64_t min) {
    if (j.contains(f)) v = int_field(j[f], where + "." + f, min, origin);
  };
  if (l.kind == LayerKind::reshape) {
    const auto& s = need("shape");
    if (!s.is_array() || s.size() != 3)
      AE_FAIL(origin, ": ", where, ".shape must be [C, H, W], got ", json_shown(s));
    for (size_t i = 0; i < 3; ++i) l.shape.push_back(int_field(s[i], where + ".shape[" + std::to_string(i) + "]", 1, origin));
    return l;
  }
  if (l.kind == LayerKind::upsample) {
    l.scale = int_field(need("scale"), where + ".scale", 1, origin);
    return l;
  }
  if (l.is_conv()) l.channels = int_field(need("out_channels"), where + ".out_channels", 1, origin);
  l.kernel = int_field(need("kernel"), where + ".kernel", 1, origin);
  l.stride = is_pool(l.kind) ? l.kernel : 1;
  opt("stride", l.stride, 1);
  opt("padding", l.padding, 0);
  opt("dilation", l.dilation, 1);
  opt("output_padding", l.output_padding, 0);
  if (j.contains("bias")) {
    if (!j["bias"].is_boolean()) AE_FAIL(origin, ": ", where, ".bias must be true or false, got ", json_shown(j["bias"]));
    l.bias = j["bias"].get<bool>();
  }
  if (j.contains("act")) {
    const auto& a = j["act"];
    const auto act = a.is_string() ? parse_act_name(a.get<std::string>()) : std::nullopt;
    if (!act) AE_FAIL(origin, ": unknown activation ", json_shown(a), " in ", where, ".act; expected one of: ", act_names_list());
    l.act = *act;
  }
  return l;
}

nlohmann::json layer_json(const LayerSpec& l) {
  nlohmann::json j = {{"type", layer_kind_name(l.kind)}};
  if (l.kind == LayerKind::reshape) j["shape"] = l.shape;
  if (l.kind == LayerKind::upsample) j["scale"] = l.scale;
  if (l.is_conv()) j["out_channels"] = l.channels;
  if (l.is_conv() || is_pool(l.kind)) {
    j["kernel"] = l.kernel;
    if (l.stride != (is_pool(l.kind) ? l.kernel : 1)) j["stride"] = l.stride;
    if (l.padding != 0) j["padding"] = l.padding;
  }
  if (l.is_conv()) {
    if (l.output_padding != 0) j["output_padding"] = l.output_padding;
    if (l.dilation != 1) j["dilation"] = l.dilation;
    if (!l.bias) j["bias"] = false;
    j["act"] = act_name(l.act);
  }
  return j;
}

void parse_input_json(const nlohmann::json& j, Spec& s, std::string_view origin) {
  if (j.is_array()) {
    bool ok = j.size() == 3;
    for (const auto& d : j) ok = ok && d.is_number_integer() && d.get<int64_t>() >= 1 && d.get<int64_t>() <= MAX_SIZE;
    if (!ok) AE_FAIL(origin, ": 'input' must be a width (784) or an image shape [C, H, W] ([1, 28, 28]), got ", json_shown(j));
    s.input_shape = j.get<Shape>();
    if (shape_elements(s.input_shape) > MAX_SIZE) AE_FAIL(origin, ": 'input' ", json_shown(j), " has more than ", MAX_SIZE, " elements");
    s.input = shape_elements(s.input_shape);
    return;
  }
  if (!j.is_number_integer() || j.get<int64_t>() < 1 || j.get<int64_t>() > MAX_SIZE)
    AE_FAIL(origin, ": 'input' must be a width (784) or an image shape [C, H, W] ([1, 28, 28]), got ", json_shown(j));
  s.input = j.get<int64_t>();
}

std::vector<Shape> infer_shapes(const Shape& in, std::vector<LayerSpec>& layers, const std::function<std::string(size_t)>& name,
                                std::string_view origin) {
  std::vector<Shape> out;
  Shape x = in;
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerSpec& l = layers[i];
    const auto fail = [&](const auto&... why) { AE_FAIL(origin, ": ", name(i), " (", layer_kind_name(l.kind), "): ", why...); };
    const std::string from = i == 0 ? "the input " + shape_string(x) : "the output " + shape_string(x) + " of " + name(i - 1);
    Shape y;
    if (l.kind == LayerKind::dense) {
      y = {l.units};  // a [C,H,W] input is read as its C·H·W features (the implicit nn.Flatten)
    } else if (l.kind == LayerKind::reshape) {
      if (shape_elements(l.shape) != shape_elements(x))
        fail("reshape to ", shape_string(l.shape), " (", shape_elements(l.shape), " elements) but its input ", shape_string(x), " has ",
             shape_elements(x));
      y = l.shape;
    } else {
      if (x.size() != 3)
        fail("needs a [C,H,W] input but gets ", from, ", which is flat; ",
             i == 0 ? "give the input as CxHxW (e.g. 1x28x28, JSON [1, 28, 28])" : "reshape it first (e.g. R16x7x7)");
      const int64_t C = x[0], H = x[1], W = x[2];
      // Square kernels: H and W follow the same formula.
      const auto each = [&](auto f) { return Shape{f(H), f(W)}; };
      Shape hw;
      if (l.kind == LayerKind::upsample) {
        hw = {H * l.scale, W * l.scale};
        y = {C, hw[0], hw[1]};
      } else if (l.kind == LayerKind::conv_transpose2d) {
        if (l.output_padding >= l.stride && l.output_padding >= l.dilation)
          fail("output padding ", l.output_padding, " must be smaller than the stride ", l.stride, " or the dilation ", l.dilation,
               " (PyTorch's rule); input ", shape_string(x));
        hw = each([&](int64_t n) { return (n - 1) * l.stride - 2 * l.padding + l.dilation * (l.kernel - 1) + l.output_padding + 1; });
        y = {l.channels, hw[0], hw[1]};
        if (hw[0] < 1 || hw[1] < 1)
          fail("padding ", l.padding, " leaves no output: input ", shape_string(x), ", output ", shape_string(y));
      } else {
        // conv2d and pools: the (dilated) kernel must fit the padded input.
        const int64_t span = l.is_conv() ? l.dilation * (l.kernel - 1) + 1 : l.kernel;
        if (is_pool(l.kind) && 2 * l.padding > l.kernel)
          fail("padding ", l.padding, " must be at most half the kernel ", l.kernel, " (PyTorch's rule); input ", shape_string(x));
        if (span > std::min(H, W) + 2 * l.padding)
          fail("kernel ", l.kernel, l.dilation != 1 ? " (dilated to " + std::to_string(span) + ")" : std::string(),
               " is larger than its padded input ", shape_string(x), " (", std::min(H, W), " + 2·", l.padding, " = ",
               std::min(H, W) + 2 * l.padding, ")");
        hw = each([&](int64_t n) { return (n + 2 * l.padding - span) / l.stride + 1; });
        y = {l.is_conv() ? l.channels : C, hw[0], hw[1]};
      }
      for (int64_t d : y)
        if (d > MAX_SIZE) fail("its output ", shape_string(y), " is too large (input ", shape_string(x), ")");
    }
    if (shape_elements(y) > MAX_SIZE) fail("its output ", shape_string(y), " has more than ", MAX_SIZE, " elements");
    if (l.kind != LayerKind::dense) l.units = shape_elements(y);
    out.push_back(y);
    x = y;
  }
  return out;
}

void validate_conv(const Spec& s, std::string_view origin) {
  if (!s.input_shape.empty() && (s.input_shape.size() != 3 || shape_elements(s.input_shape) != s.input))
    AE_FAIL(origin, ": input shape ", shape_string(s.input_shape), " must be [C, H, W] with C·H·W = input (", s.input, ")");
  std::vector<LayerSpec> layers(s.encoder);
  layers.insert(layers.end(), s.decoder.begin(), s.decoder.end());
  const size_t n_enc = s.encoder.size();
  const auto name = [&](size_t i) {
    return i < n_enc ? "encoder[" + std::to_string(i) + "]" : "decoder[" + std::to_string(i - n_enc) + "]";
  };
  const std::vector<Shape> shapes = infer_shapes(s.input_tensor_shape(), layers, name, origin);
  for (size_t i = 0; i < layers.size(); ++i)
    AE_CHECK(layers[i].units == s.layer(int64_t(i)).units, origin, ": ", name(i), " has units ", s.layer(int64_t(i)).units,
             " but its output ", shape_string(shapes[i]), " has ", layers[i].units, " elements");
  if (shapes.back() != s.input_tensor_shape())
    AE_FAIL(origin, ": decoder ends at ", shape_string(shapes.back()), " but the input is ", shape_string(s.input_tensor_shape()),
            "; an autoencoder's last layer must reconstruct the input's shape",
            s.input_shape.empty() || shapes.back().size() == 3 ? "" : " (end with a reshape, e.g. R" + std::to_string(s.input_shape[0]) + "x" +
            std::to_string(s.input_shape[1]) + "x" + std::to_string(s.input_shape[2]) + ")");
  bool trainable = false;  // pools, upsampling and reshapes alone would "train" nothing
  for (const LayerSpec& l : layers) trainable = trainable || l.kind == LayerKind::dense || l.is_conv();
  if (!trainable)
    AE_FAIL(origin, ": no layer has parameters (only pools, upsampling and reshapes); add a convolution or a dense layer");
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].variational)
      AE_FAIL(origin, ": ", name(i), " is variational, but a variational code is not yet with convolutional layers");
  const char* refused = s.tied ? "tied weights" : s.contractive != 0 ? "the contractive penalty"
                        : s.sparsity.kind != Sparsity::Kind::none ? "a sparsity penalty"
                        : s.adversarial.enabled() ? "an adversarial discriminator"
                        : s.noise.kind != NoiseKind::none ? "input noise (denoising)"
                        : s.beta != 1 || s.kl_warmup != 0 ? "beta and kl_warmup (a VAE's)" : nullptr;
  if (refused) AE_FAIL(origin, ": ", refused, " not yet with convolutional layers (issue 12); use a dense spec for it");
}

}  // namespace spec_conv

bool Spec::convolutional() const {
  if (!input_shape.empty()) return true;
  for (int64_t l = 0; l < num_layers(); ++l)
    if (layer(l).kind != LayerKind::dense) return true;
  return false;
}

std::vector<Shape> Spec::layer_shapes() const {
  std::vector<LayerSpec> layers(encoder);
  layers.insert(layers.end(), decoder.begin(), decoder.end());
  return spec_conv::infer_shapes(input_tensor_shape(), layers, [](size_t i) { return "layer " + std::to_string(i); }, "spec");
}

// Here, not in spec.cpp, since most of its rule is about the modules convolutional layers add.
std::string layer_param_prefix(const Spec& s, int64_t l) {
  bool in_encoder = l < int64_t(s.encoder.size());
  const auto& part = in_encoder ? s.encoder : s.decoder;
  int64_t local = in_encoder ? l : l - int64_t(s.encoder.size());
  // Position in nn.Sequential (spec.h): the layer's module, its activation unless linear, and an
  // nn.Flatten before a dense layer whose input is [C,H,W] (it follows a non-dense layer, or is the
  // first layer of an image input).
  const int64_t first = in_encoder ? 0 : int64_t(s.encoder.size());
  const auto flattens = [&](int64_t g) {
    const bool image_in = g == 0 ? !s.input_shape.empty() : s.layer(g - 1).kind != LayerKind::dense;
    return s.layer(g).kind == LayerKind::dense && image_in;
  };
  int64_t index = 0;
  for (int64_t i = 0; i < local; ++i) index += 1 + (part[i].act == Act::linear ? 0 : 1) + (flattens(first + i) ? 1 : 0);
  if (flattens(first + local)) ++index;
  return std::string(in_encoder ? "encoder." : "decoder.") + std::to_string(index);
}

}  // namespace ae
