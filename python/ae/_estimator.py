"""ae.Autoencoder: a scikit-learn-style estimator over ae's engine (ae._core, libae).

Arrays: float32, C-contiguous 2-D arrays are read where they are, with no copy (the model's
`last_input_address` shows which memory a call read; a model with normalize="zscore" or "minmax"
normalises a copy inside the engine). Anything else — other float or integer dtypes, Fortran order,
strided views, lists, pandas frames — is converted once to a float32 C-contiguous array before the
call. Outputs are new float32 arrays. transform() does not scan X for NaN (that would cost about a
tenth of the call); fit, decision_function, score_samples and predict refuse rows with NaN or inf.
"""

import inspect
import json
import math
import numbers
import operator
import os
import sys
import tempfile
import warnings

import numpy as np

from . import _core

try:  # scikit-learn's base class when it is installed (clone, Pipeline, GridSearchCV, repr)
    from sklearn.base import BaseEstimator as _Base
except ImportError:  # pragma: no cover - the same conventions without scikit-learn

    class _Base:
        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values() if p.name != "self")

        def get_params(self, deep=True):
            return {k: getattr(self, k) for k in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for k, v in params.items():
                if k not in valid:
                    raise ValueError(f"Invalid parameter {k!r} for estimator {type(self).__name__}; valid: {valid}")
                setattr(self, k, v)
            return self


_PRECISIONS = ("fp32", "bf16", "fp16", "tf32")
_F32 = np.dtype(np.float32)


class Autoencoder(_Base):
    """An autoencoder trained by ae's engine.

    Parameters mirror `ae train`'s flags (spec, loss, optimizer, lr, epochs, batch_size as --batch,
    seed, device, threads, normalize, and the kinds and regularisers tied, sparsity, noise,
    contractive, beta, kl_warmup, adversarial, prior, with the CLI's syntax: sparsity="l1:0.001",
    noise="mask:0.3", a VAE by a code layer marked v in the spec: "784-400r-20v-400r-784s").
    `contamination` is the expected fraction of anomalies in the training data (PyOD's meaning):
    threshold_ is put at the training scores' 1 - contamination quantile, and predict() flags rows
    above it. `verbose=0` trains silently; otherwise a progress bar (tqdm when installed, else one
    line per epoch on stderr). Ctrl-C during fit() stops after the current step: the estimator keeps
    the model trained so far and KeyboardInterrupt is raised. precision="bf16" trains and transforms
    with bf16 storage and GEMMs (fp32 accumulation and master weights) on a CPU with AVX512_BF16 or a
    GPU; "fp16" (with dynamic loss scaling) and "tf32" on a GPU.
    """

    def __init__(self, spec="784-256r-32-256r-784s", loss="mse", optimizer="adam", lr=None, epochs=10, batch_size=256,
                 seed=1, device="auto", threads=0, normalize="none", tied=False, sparsity=None, noise=None,
                 contractive=None, beta=None, kl_warmup=None, adversarial=None, prior=None, precision="fp32",
                 contamination=0.1, shuffle=True, momentum=None, nesterov=False, weight_decay=None,
                 lr_schedule="constant", warmup=0, lr_step=1000, lr_gamma=0.1, lr_min=0.0, patience=0, keep_best=False,
                 d_lr=None, g_lr=None, verbose=1):
        self.spec = spec
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self.threads = threads
        self.normalize = normalize
        self.tied = tied
        self.sparsity = sparsity
        self.noise = noise
        self.contractive = contractive
        self.beta = beta
        self.kl_warmup = kl_warmup
        self.adversarial = adversarial
        self.prior = prior
        self.precision = precision
        self.contamination = contamination
        self.shuffle = shuffle
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.warmup = warmup
        self.lr_step = lr_step
        self.lr_gamma = lr_gamma
        self.lr_min = lr_min
        self.patience = patience
        self.keep_best = keep_best
        self.d_lr = d_lr
        self.g_lr = g_lr
        self.verbose = verbose

    # ---- fitting -------------------------------------------------------------------------------

    def fit(self, X, y=None, X_val=None):
        """Trains a new model on the rows of X (y is ignored); X_val's loss is reported per epoch."""
        self._reset()
        p = self._checked_params(X_val is not None)
        model = _core.Model.create(p["spec"], p["seed"], p["loss"], tied=p["tied"], sparsity=p["sparsity"],
                                   noise=p["noise"], contractive=p["contractive"], beta=p["beta"],
                                   kl_warmup=p["kl_warmup"], adversarial=p["adversarial"], prior=p["prior"])
        X = _rows(X, "X", model.input_width, finite=True)
        if X.shape[0] < 1:
            raise ValueError("X has no rows: fit needs at least one")
        val = None if X_val is None else _rows(X_val, "X_val", model.input_width, finite=True)
        bar = _ProgressBar(p["verbose"], model.spec)
        config = dict(epochs=p["epochs"], batch=p["batch_size"], optimizer=p["optimizer"], lr=p["lr"],
                      momentum=p["momentum"], weight_decay=p["weight_decay"], nesterov=p["nesterov"],
                      shuffle=p["shuffle"], threads=p["threads"], device=p["device"], normalize=p["normalize"],
                      lr_schedule=p["lr_schedule"], warmup=p["warmup"], lr_step=p["lr_step"], lr_gamma=p["lr_gamma"],
                      lr_min=p["lr_min"], patience=p["patience"], keep_best=p["keep_best"], d_lr=p["d_lr"],
                      g_lr=p["g_lr"], contamination=p["contamination"], precision=self.precision,
                      data_name=f"numpy array [{X.shape[0]} x {X.shape[1]}] (Python)")
        try:
            summary = model.train(X, val, bar.update if bar.active else None, **config)
        except BaseException as e:
            bar.close()
            # Ctrl-C, or the progress bar raised, after some steps: training stopped there and the
            # model is usable. Anything else (ae refused the data or the settings) fitted nothing.
            if isinstance(e, _core.Error) or model.steps_trained == 0:
                raise
            self._set_fitted(model, X)
            print(f"ae: training interrupted after step {model.steps_trained}; the estimator keeps the model trained "
                  "so far", file=sys.stderr)
            raise
        bar.close()
        self._set_fitted(model, X)
        self.fit_summary_ = summary
        return self

    _FITTED = ("model_", "n_features_in_", "code_width_", "history_", "n_steps_", "n_iter_", "threshold_",
               "decision_scores_", "labels_", "fit_summary_")

    def _reset(self):
        for name in self._FITTED:
            self.__dict__.pop(name, None)

    def _set_fitted(self, model, X):
        self._reset()
        self.model_ = model
        self.n_features_in_ = model.input_width
        self.code_width_ = model.code_width
        self.history_ = json.loads(model.history_json)
        self.n_steps_ = model.steps_trained
        self.n_iter_ = self.history_[-1]["epoch"] if self.history_ else 0
        self.threshold_ = model.threshold
        if X is not None:  # PyOD's attributes: the training rows' scores and (with a threshold) labels
            self.decision_scores_ = model.score(X)
            if not math.isnan(self.threshold_):
                self.labels_ = self._labels(self.decision_scores_)

    def _checked_params(self, has_val):
        """The parameters as the engine takes them, each checked by name (TypeError for a wrong
        type, ValueError for a bad value), before any work."""
        if self.precision not in _PRECISIONS:
            raise ValueError(f"precision={self.precision!r}: expected one of {', '.join(_PRECISIONS)} (bf16: bf16 storage "
                             "and GEMMs with fp32 accumulation, on a CPU with AVX512_BF16 or a GPU; fp16 and tf32: GPU)")
        if self.contamination is not None and not (isinstance(self.contamination, numbers.Real)
                                                   and 0 < self.contamination < 1):
            raise ValueError(f"contamination={self.contamination!r} must be in (0, 1), or None for no threshold")
        if (self.patience or self.keep_best) and not has_val:
            raise ValueError("patience and keep_best watch the validation loss: pass X_val to fit")
        p = {name: _str(name, getattr(self, name)) for name in
             ("spec", "loss", "optimizer", "device", "normalize", "lr_schedule")}
        p.update({name: _opt_str(name, getattr(self, name)) for name in
                  ("sparsity", "noise", "contractive", "beta", "kl_warmup", "adversarial", "prior")})
        p.update({name: _bool(name, getattr(self, name)) for name in ("tied", "shuffle", "keep_best", "nesterov")})
        p.update(epochs=_int("epochs", self.epochs, 0, 2**32), batch_size=_int("batch_size", self.batch_size, 1),
                 threads=_int("threads", self.threads, 0, 4096), warmup=_int("warmup", self.warmup, 0),
                 lr_step=_int("lr_step", self.lr_step, 1), patience=_int("patience", self.patience, 0),
                 verbose=_int("verbose", self.verbose, 0), seed=_seed(self.seed))
        p.update({name: _nan(name, getattr(self, name)) for name in
                  ("lr", "momentum", "weight_decay", "d_lr", "g_lr", "contamination")})
        p.update(lr_gamma=_nan("lr_gamma", self.lr_gamma), lr_min=_nan("lr_min", self.lr_min))
        return p

    def _more_tags(self):  # scikit-learn: outputs are float32 whatever the input dtype
        return {"preserves_dtype": [np.float32]}

    # ---- using the model -----------------------------------------------------------------------

    def transform(self, X):
        """Codes of the rows of X: [rows, code_width_] (a VAE's mean code μ)."""
        m = self._model()
        return m.encode(_rows(X, "X", self.n_features_in_))

    def fit_transform(self, X, y=None, **fit_params):
        return self.fit(X, y, **fit_params).transform(X)

    def inverse_transform(self, codes):
        """Rows decoded from codes [rows, code_width_], in X's units."""
        m = self._model()
        return m.decode(_rows(codes, "codes", m.code_width))

    def reconstruct(self, X):
        """Each row of X through the encoder and decoder, in X's units."""
        m = self._model()
        return m.reconstruct(_rows(X, "X", m.input_width))

    def decision_function(self, X):
        """Anomaly score per row (PyOD's sense, higher is more anomalous): the reconstruction loss,
        averaged over the features (a VAE: the negative ELBO); what `ae score` writes."""
        m = self._model()
        X = _rows(X, "X", m.input_width)
        scores = m.score(X)
        if not np.isfinite(scores).all():  # a NaN or inf row must not pass as normal
            bad = np.flatnonzero(~np.isfinite(scores))
            rows = X[bad]
            if not np.isfinite(rows).all():
                r, c = np.argwhere(~np.isfinite(rows))[0]
                raise ValueError(f"X contains NaN or infinity (first at row {bad[r]}, column {c})")
        return scores

    def score_samples(self, X):
        """scikit-learn's sense, higher is more normal: minus decision_function."""
        return -self.decision_function(X)

    def predict(self, X):
        """1 for rows scoring above threshold_ (outliers), 0 for the others."""
        return self._labels(self.decision_function(X))

    def fit_predict(self, X, y=None):
        self.fit(X, y)
        if not hasattr(self, "labels_"):
            raise ValueError("this model has no anomaly threshold: fit it with contamination=q (e.g. 0.1) to use fit_predict")
        return self.labels_

    def score(self, X, y=None):
        """Minus the mean squared reconstruction error over X, in X's units (higher is better): one
        measure for every loss, normalisation and kind, so GridSearchCV can compare them."""
        m = self._model()
        X = _rows(X, "X", m.input_width, finite=True)
        return -float(np.mean(np.square(m.reconstruct(X) - X, dtype=np.float64)))

    def sample(self, n, seed=None):
        """n new rows from a generative model (a VAE or an adversarial autoencoder): codes drawn
        from its prior with ae's Philox generator (the rows `ae sample --seed` gives), decoded."""
        m = self._model()
        if not m.generative:
            raise ValueError(f"{m.spec} is not generative: sample() needs a VAE (a code layer marked v, e.g. "
                             "784-400r-20v-400r-784s) or an adversarial autoencoder (adversarial='32-64r-64r-1')")
        return m.sample(_int("n", n, 0), _seed(self.seed if seed is None else seed))

    def save(self, path):
        """Writes the model file (safetensors) that `ae info`, `ae encode`, ... and ae.load read."""
        self._model().save(os.fspath(path))

    # ---- helpers -------------------------------------------------------------------------------

    def _model(self):
        model = getattr(self, "model_", None)
        if model is None:
            raise _not_fitted(self)
        return model

    def _labels(self, scores):
        t = getattr(self, "threshold_", math.nan)
        if t is None or math.isnan(t):
            raise ValueError("this model has no anomaly threshold: fit it with contamination=q (e.g. 0.1) to use predict")
        return (scores > t).astype(np.int64)

    def __sklearn_is_fitted__(self):
        return getattr(self, "model_", None) is not None

    def __getstate__(self):  # pickling (joblib, multiprocessing): the model travels as its file's bytes
        base = getattr(super(), "__getstate__", None)
        state = dict(base()) if base is not None else self.__dict__.copy()  # scikit-learn adds its version
        model = state.pop("model_", None)
        if model is not None:
            state["_model_bytes"] = _model_bytes(model)
        return state

    def __setstate__(self, state):
        data = state.pop("_model_bytes", None)
        self.__dict__.update(state)
        if data is not None:
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "model.safetensors")
                with open(path, "wb") as f:
                    f.write(data)
                self.model_ = _core.Model.load(path)
                if getattr(self, "precision", "fp32") != "fp32":  # a file loads as fp32; the estimator ran in this
                    try:
                        self.model_.precision = self.precision
                    except _core.Error as e:  # e.g. a bf16 model unpickled on a CPU without AVX512_BF16
                        warnings.warn(f"{e}; this Autoencoder runs in fp32")


def load(path, threads=0, verbose=0):
    """An Autoencoder holding the model file at `path` (written by ae.Autoencoder.save or `ae train`),
    ready to transform, score and predict. Its parameters are what the file records of how it was
    trained (spec with its regularisers, loss, normalize, seed, optimizer, lr, batch size, epochs,
    contamination), so clone(ae.load(path)).fit(X) trains alike; an adversarial model's d_lr/g_lr
    and the schedule are not recorded and take their defaults. `threads` (0: OMP_NUM_THREADS, else
    all cores) is what its calls use: 1 for serving a row at a time beside other work."""
    model = _core.Model.load(os.fspath(path))
    model.threads = _int("threads", threads, 0, 4096)
    info = json.loads(model.info_json)
    opt = info.get("optimizer") or {}
    params = dict(spec=model.spec, loss=model.loss, normalize=info.get("normalize", "none"), seed=info.get("seed", 1),
                  threads=threads, verbose=verbose, contamination=None if math.isnan(model.contamination) else model.contamination)
    if opt:
        params.update(optimizer=opt.get("name", "adam"), lr=opt.get("lr"), batch_size=opt.get("batch", 256))
        for name in ("momentum", "weight_decay"):
            if opt.get(name):
                params[name] = opt[name]
        if opt.get("nesterov"):
            params["nesterov"] = True
    if info.get("epoch"):
        params["epochs"] = info["epoch"]
    est = Autoencoder(**params)
    est._set_fitted(model, None)
    return est


# ---- arrays ------------------------------------------------------------------------------------

def _rows(X, name, width, finite=False):
    """X as a float32 C-contiguous [rows, width] array: X itself when it already is one."""
    if (not finite and type(X) is np.ndarray and X.dtype is _F32 and X.ndim == 2 and X.shape[1] == width
            and X.flags.c_contiguous):
        return X  # the common case, checked first: a transform of one row costs microseconds
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{name} is a sparse matrix; ae needs dense rows: pass {name}.toarray()")
    if not (isinstance(X, np.ndarray) and X.dtype == np.float32 and X.flags.c_contiguous):
        a = np.asarray(X)
        if a.dtype.kind == "O":  # numbers held as Python objects: converted like any other dtype
            try:
                a = a.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"{name} holds objects that are not numbers; ae needs numbers") from None
        if a.dtype.kind not in "biuf":
            raise ValueError(f"{name} has dtype {a.dtype}; ae needs numbers (it converts them to float32)")
        X = np.ascontiguousarray(a, dtype=np.float32)
    if X.ndim != 2:
        if X.ndim == 1:
            raise ValueError(f"Expected a 2-D array for {name}, got a 1-D array of {X.shape[0]} values; reshape it with "
                             f"{name}.reshape(1, -1) if it is one row")
        raise ValueError(f"{name} must be 2-D [rows, features], got {X.ndim} dimensions {X.shape}")
    if X.shape[1] != width:
        raise ValueError(f"{name} has {X.shape[1]} features, the model expects {width}")
    if finite and not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(f"{name} contains NaN or infinity (first at row {bad[0]}, column {bad[1]})")
    return X


def _nan(name, v):
    if v is None:
        return math.nan
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a number or None, got {v!r}")
    return float(v)


def _int(name, v, lo, hi=2**62):
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {v!r}")
    try:
        i = operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {v!r}") from None
    if not lo <= i <= hi:
        raise ValueError(f"{name}={i} must be in [{lo}, {hi}]" if hi < 2**62 else f"{name}={i} must be ≥ {lo}")
    return i


def _bool(name, v):
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {v!r}")
    return bool(v)


def _str(name, v):
    if not isinstance(v, str):
        raise TypeError(f"{name} must be a string, got {v!r}")
    return v


def _opt_str(name, v):  # a regulariser: None, or its CLI syntax (a number is its string)
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (str, numbers.Real)):
        raise TypeError(f"{name} must be a string such as the CLI takes, or None; got {v!r}")
    return str(v)


def _seed(seed):
    return _int("seed", seed, 0, 2**64 - 1)


def _not_fitted(est):
    try:
        from sklearn.exceptions import NotFittedError
    except ImportError:  # pragma: no cover
        NotFittedError = AttributeError
    return NotFittedError(f"This {type(est).__name__} instance is not fitted yet. Call 'fit' with appropriate arguments "
                          "before using this estimator, or load a model file with ae.load.")


def _model_bytes(model):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.safetensors")
        model.save(path)
        with open(path, "rb") as f:
            return f.read()


# ---- progress ----------------------------------------------------------------------------------

class _ProgressBar:
    """tqdm's bar when tqdm is installed, else one line per epoch on stderr; nothing at verbose=0."""

    def __init__(self, verbose, spec):
        self.active = bool(verbose)
        self.bar = None
        self.spec = spec
        self.plain = False
        if not self.active:
            return
        try:
            from tqdm.auto import tqdm
            self.tqdm = tqdm
        except ImportError:
            self.plain = True

    def update(self, p):
        if self.bar is None and not self.plain:
            self.bar = self.tqdm(total=p["total_steps"], desc=f"ae {self.spec}", unit="step", leave=True)
        if self.bar is not None:
            self.bar.update(p["step"] - self.bar.n)
        if not p["log"]:
            return
        line = f"epoch {p['epoch']}  step {p['step']}/{p['total_steps']}  train loss {p['train_loss']:.6f}"
        if p["terms"]:
            line += " (" + ", ".join(f"{k} {v:.6f}" for k, v in p["terms"].items()) + ")"
        if p["val_loss"] is not None:
            line += f"  val loss {p['val_loss']:.6f}"
        line += f"  {p['samples_per_s']:.0f} samples/s"
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{p['train_loss']:.5f}", refresh=False)
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
