// ae._core: the compiled part of the Python module, a thin layer over libae's C++ API (ae.hpp).
// The estimator (python/ae/_estimator.py) converts and checks arrays; this layer takes only
// float32, C-contiguous 2-D arrays and reads them where they are (no copy), runs every call with the
// GIL released, and turns ae::Error into ae.Error (a ValueError) with ae's one-line message.
// Training calls back into Python after every step, with the GIL taken for that moment only: to
// check for Ctrl-C (PyErr_CheckSignals) and to drive the caller's progress function. Either one
// raising ends training after that step, with the model trained so far; the exception is raised
// once train() has returned.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include "ae/ae.h"
#include "ae/ae.hpp"

namespace py = pybind11;

namespace {

// A float32, C-contiguous, 2-D array with `width` columns (the estimator has converted and checked
// it; this is the last line of defence, not the user's error message). Returns its data pointer.
const float* rows_of(const py::array& a, int64_t width, const char* what) {
  if (!a.dtype().is(py::dtype::of<float>()) || !(a.flags() & py::array::c_style) || a.ndim() != 2)
    throw py::type_error(std::string(what) + " must be a 2-D, C-contiguous float32 array");
  if (a.shape(1) != width)
    throw py::value_error(std::string(what) + " has " + std::to_string(a.shape(1)) + " features, the model expects " +
                          std::to_string(width));
  return static_cast<const float*>(a.data());
}

py::array_t<float> new_rows(int64_t rows, int64_t width) {
  return py::array_t<float>({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(width)});
}

// An Autoencoder plus the address of the last input it read, for the zero-copy test, and the
// thread training it. Every call on the model takes its lock, which train holds: from another
// thread a call waits (with the GIL released, so train's callbacks can run); from the training
// thread itself — a progress function calling its own model — it would wait forever, so it is
// refused.
struct Model {
  ae::Autoencoder m;
  std::uintptr_t last_input = 0;
  std::atomic<std::thread::id> trainer{};

  Model(ae::Autoencoder a) : m(std::move(a)) {}
  Model(Model&& o) noexcept : m(std::move(o.m)), last_input(o.last_input) {}

  void check_reentry() const {
    if (trainer.load() == std::this_thread::get_id())
      throw py::value_error("this model is being trained by this thread: a progress function cannot use its own model");
  }

  // One forward mode over x's rows: [rows, in_width] → [rows, out_width], GIL released.
  template <typename CALL>
  py::array_t<float> forward(const py::array& x, int64_t in_width, int64_t out_width, const char* what, CALL call) {
    check_reentry();
    const float* p = rows_of(x, in_width, what);
    last_input = reinterpret_cast<std::uintptr_t>(p);
    const int64_t rows = x.shape(0);
    py::array_t<float> out = new_rows(rows, out_width);
    float* o = out.mutable_data();
    {
      py::gil_scoped_release release;
      call(p, rows, o);
    }
    return out;
  }
};

// One row per TrainConfig field that Model.train takes as a keyword argument (same name): the
// field set from the Python value (None leaves the default).
struct ConfigField {
  const char* name;
  void (*set)(ae::TrainConfig&, const py::handle&);
};
template <auto MEMBER>
void set_field(ae::TrainConfig& c, const py::handle& v) {
  c.*MEMBER = v.cast<std::remove_reference_t<decltype(c.*MEMBER)>>();
}
constexpr ConfigField k_config_fields[] = {
    {"epochs", set_field<&ae::TrainConfig::epochs>},       {"steps", set_field<&ae::TrainConfig::steps>},
    {"batch", set_field<&ae::TrainConfig::batch>},         {"optimizer", set_field<&ae::TrainConfig::optimizer>},
    {"lr", set_field<&ae::TrainConfig::lr>},               {"momentum", set_field<&ae::TrainConfig::momentum>},
    {"weight_decay", set_field<&ae::TrainConfig::weight_decay>}, {"nesterov", set_field<&ae::TrainConfig::nesterov>},
    {"shuffle", set_field<&ae::TrainConfig::shuffle>},     {"threads", set_field<&ae::TrainConfig::threads>},
    {"device", set_field<&ae::TrainConfig::device>},       {"normalize", set_field<&ae::TrainConfig::normalize>},
    {"lr_schedule", set_field<&ae::TrainConfig::lr_schedule>}, {"warmup", set_field<&ae::TrainConfig::warmup>},
    {"lr_step", set_field<&ae::TrainConfig::lr_step>},     {"lr_gamma", set_field<&ae::TrainConfig::lr_gamma>},
    {"lr_min", set_field<&ae::TrainConfig::lr_min>},       {"d_lr", set_field<&ae::TrainConfig::d_lr>},
    {"g_lr", set_field<&ae::TrainConfig::g_lr>},           {"patience", set_field<&ae::TrainConfig::patience>},
    {"keep_best", set_field<&ae::TrainConfig::keep_best>}, {"log_every", set_field<&ae::TrainConfig::log_every>},
    {"contamination", set_field<&ae::TrainConfig::contamination>}, {"data_name", set_field<&ae::TrainConfig::data_name>},
    {"precision", set_field<&ae::TrainConfig::precision>},
};

// The keyword arguments of Model.train → TrainConfig; an unknown key is a TypeError, as Python's.
ae::TrainConfig train_config(const py::dict& kw) {
  ae::TrainConfig c;
  for (const auto& [key, value] : kw) {
    const std::string k = key.cast<std::string>();
    const ConfigField* field = nullptr;
    for (const ConfigField& f : k_config_fields)
      if (k == f.name) field = &f;
    if (!field) throw py::type_error("train() got an unexpected keyword argument '" + k + "'");
    if (!value.is_none()) field->set(c, value);
  }
  return c;
}

py::dict progress_dict(const ae::TrainProgress& p) {
  py::dict d;
  d["step"] = p.step, d["total_steps"] = p.total_steps, d["epoch"] = p.epoch, d["log"] = p.log;
  d["train_loss"] = p.train_loss, d["lr"] = p.lr;
  if (p.log) {
    d["val_loss"] = std::isfinite(p.val_loss) ? py::object(py::float_(p.val_loss)) : py::object(py::none());
    d["samples_per_s"] = p.samples_per_s;
    py::dict terms;
    for (const auto& [name, v] : p.terms) terms[py::str(name)] = v;
    d["terms"] = terms;
  }
  return d;
}

// Trains on x (and val, when given); `progress(dict)` after every step when not None. Returns the
// summary as a dict. Ctrl-C or an exception from `progress` stops training after the current step
// and is raised here once the model holds the steps taken.
py::dict train(Model& self, const py::array& x, const py::object& val, const py::object& progress, const py::kwargs& kw) {
  self.check_reentry();
  ae::TrainConfig c = train_config(kw);
  const int64_t width = self.m.input_width();
  const float* xp = rows_of(x, width, "X");
  self.last_input = reinterpret_cast<std::uintptr_t>(xp);
  const int64_t rows = x.shape(0);
  py::array v;
  if (!val.is_none()) {
    v = val.cast<py::array>();
    c.val = rows_of(v, width, "X_val");
    c.val_rows = v.shape(0);
  }
  std::optional<py::error_already_set> raised;  // destroyed, like any Python object, with the GIL held
  c.on_progress = [&](const ae::TrainProgress& p) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) {  // Ctrl-C: Python's handler has raised KeyboardInterrupt
      raised.emplace();
      return false;
    }
    if (progress.is_none()) return true;
    try {
      progress(progress_dict(p));
    } catch (py::error_already_set& e) {
      raised.emplace(std::move(e));
      return false;
    }
    return true;
  };
  ae::TrainSummary s;
  {
    struct Mark {  // the training thread, for check_reentry, until train returns or throws
      std::atomic<std::thread::id>& t;
      ~Mark() { t.store(std::thread::id{}); }
    } mark{self.trainer};
    self.trainer.store(std::this_thread::get_id());
    py::gil_scoped_release release;
    s = self.m.train(xp, rows, c);
  }
  if (raised) throw *raised;
  py::dict d;
  d["steps"] = s.steps, d["train_loss"] = s.train_loss, d["seconds"] = s.seconds, d["samples_per_s"] = s.samples_per_s;
  d["val_loss"] = std::isfinite(s.val_loss) ? py::object(py::float_(s.val_loss)) : py::object(py::none());
  d["stopped_early"] = s.stopped_early, d["interrupted"] = s.interrupted;
  return d;
}

// A property getter that takes the model's lock: refused on the training thread, and run with the
// GIL released.
template <typename F>
py::cpp_function locked(F f) {
  using R = decltype(f(std::declval<const Model&>()));
  return py::cpp_function([f](const Model& self) -> R {
    self.check_reentry();
    py::gil_scoped_release release;
    return f(self);
  });
}

}  // namespace

PYBIND11_MODULE(_core, mod) {
  mod.doc() = "ae's engine (libae) for Python: use ae.Autoencoder, the scikit-learn-style estimator";
  mod.attr("__version__") = ae_version();
  // ae's errors (bad spec, data, model file, options) as ae.Error, a ValueError, with ae's message.
  py::register_exception<ae::Error>(mod, "Error", PyExc_ValueError);

  py::class_<Model>(mod, "Model")
      .def_static(
          "create",
          [](const std::string& spec, uint64_t seed, const std::string& loss, const py::kwargs& kw) {
            ae::ModelOptions o;
            o.keyword_names = true;
            for (const auto& item : kw) {
              const std::string k = item.first.cast<std::string>();
              if (item.second.is_none()) continue;
              if (k == "tied") o.tied = item.second.cast<bool>();
              else if (k == "sparsity") o.sparsity = item.second.cast<std::string>();
              else if (k == "noise") o.noise = item.second.cast<std::string>();
              else if (k == "contractive") o.contractive = py::str(item.second).cast<std::string>();
              else if (k == "beta") o.beta = py::str(item.second).cast<std::string>();
              else if (k == "kl_warmup") o.kl_warmup = py::str(item.second).cast<std::string>();
              else if (k == "adversarial") o.adversarial = item.second.cast<std::string>();
              else if (k == "prior") o.prior = item.second.cast<std::string>();
              else throw py::type_error("create() got an unexpected keyword argument '" + k + "'");
            }
            return Model{ae::Autoencoder::create(spec, seed, loss, o)};
          },
          py::arg("spec"), py::arg("seed") = 1, py::arg("loss") = "mse")
      .def_static("load", [](const std::string& path) { return Model{ae::Autoencoder::load(path)}; }, py::arg("path"),
                  py::call_guard<py::gil_scoped_release>())
      .def("train", &train, py::arg("x"), py::arg("val") = py::none(), py::arg("progress") = py::none())
      .def("encode", [](Model& s, const py::array& x) {
        return s.forward(x, s.m.input_width(), s.m.code_width(), "X", [&](const float* p, int64_t n, float* o) { s.m.encode(p, n, o); });
      })
      .def("decode", [](Model& s, const py::array& c) {
        return s.forward(c, s.m.code_width(), s.m.input_width(), "codes", [&](const float* p, int64_t n, float* o) { s.m.decode(p, n, o); });
      })
      .def("reconstruct", [](Model& s, const py::array& x) {
        return s.forward(x, s.m.input_width(), s.m.input_width(), "X", [&](const float* p, int64_t n, float* o) { s.m.reconstruct(p, n, o); });
      })
      .def("score", [](Model& s, const py::array& x) {
        s.check_reentry();
        const float* p = rows_of(x, s.m.input_width(), "X");
        s.last_input = reinterpret_cast<std::uintptr_t>(p);
        const int64_t rows = x.shape(0);
        py::array_t<float> out(static_cast<py::ssize_t>(rows));
        float* o = out.mutable_data();
        py::gil_scoped_release release;
        s.m.score(p, rows, o);
        return out;
      })
      .def("sample", [](Model& s, int64_t n, uint64_t seed) {
        s.check_reentry();
        if (n < 0) throw py::value_error("n=" + std::to_string(n) + " must be ≥ 0");
        py::array_t<float> out = new_rows(n, s.m.input_width());
        float* o = out.mutable_data();
        py::gil_scoped_release release;
        s.m.sample(n, seed, o);
        return out;
      }, py::arg("n"), py::arg("seed") = 1)
      .def("save", [](const Model& s, const std::string& path) {
        s.check_reentry();
        py::gil_scoped_release release;
        s.m.save(path);
      }, py::arg("path"))
      .def_property_readonly("input_width", [](const Model& s) { return s.m.input_width(); })
      .def_property_readonly("code_width", [](const Model& s) { return s.m.code_width(); })
      .def_property_readonly("spec", [](const Model& s) { return s.m.spec(); })
      .def_property_readonly("loss", [](const Model& s) { return s.m.loss_name(); })
      .def_property_readonly("generative", [](const Model& s) { return s.m.generative(); })
      .def_property_readonly("variational", [](const Model& s) { return s.m.variational(); })
      // These take the model's lock: the GIL is released while they wait for it (a train on
      // another thread holds the lock and needs the GIL for its callbacks).
      .def_property_readonly("threshold", locked([](const Model& s) { return s.m.threshold(); }))
      .def_property_readonly("contamination", locked([](const Model& s) { return s.m.contamination(); }))
      .def_property_readonly("steps_trained", locked([](const Model& s) { return s.m.steps_trained(); }))
      .def_property_readonly("history_json", locked([](const Model& s) { return s.m.history_json(); }))
      .def_property_readonly("info_json", locked([](const Model& s) { return s.m.info_json(); }))
      .def_property_readonly("plans_built", locked([](const Model& s) { return s.m.plans_built(); }))
      .def_property("precision", locked([](const Model& s) { return s.m.precision(); }), [](Model& s, const std::string& p) {
        s.check_reentry();
        py::gil_scoped_release release;
        s.m.set_precision(p);
      })
      .def_property("threads", locked([](const Model& s) { return s.m.threads(); }), [](Model& s, int t) {
        s.check_reentry();
        py::gil_scoped_release release;
        s.m.set_threads(t);
      })
      .def_property_readonly("last_input_address", [](const Model& s) { return s.last_input; },
                             "Address of the data the last call read: a float32 C-contiguous input's own (no copy)");
}
