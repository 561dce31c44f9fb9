"""Bad input gives Python exceptions with ae's one-line messages; nothing aborts the interpreter."""

import numpy as np
import pytest

import ae
from sklearn.exceptions import NotFittedError


@pytest.fixture(scope="module")
def est(fashion):
    return ae.Autoencoder(spec="784-32r-8-32r-784s", epochs=1, verbose=0).fit(fashion["X"][:500])


def test_wrong_feature_count(est, fashion):
    with pytest.raises(ValueError, match="^X has 783 features, the model expects 784$"):
        est.transform(fashion["X"][:4, :783])
    with pytest.raises(ValueError, match="^codes has 7 features, the model expects 8$"):
        est.inverse_transform(np.zeros((2, 7), np.float32))
    with pytest.raises(ValueError, match="^X has 10 features, the model expects 784$"):
        ae.Autoencoder(verbose=0).fit(np.zeros((5, 10), np.float32))


def test_wrong_shapes_and_values(est, fashion):
    with pytest.raises(ValueError, match="Expected a 2-D array for X, got a 1-D array of 784 values"):
        est.transform(fashion["X"][0])
    with pytest.raises(ValueError, match="must be 2-D"):
        est.transform(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match="dtype <U1"):
        est.transform(np.full((2, 784), "a"))
    bad = fashion["X"][:20].copy()
    bad[7, 5] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or infinity \(first at row 7, column 5\)"):
        ae.Autoencoder(verbose=0).fit(bad)
    with pytest.raises(ValueError, match="no rows"):
        ae.Autoencoder(verbose=0).fit(np.zeros((0, 784), np.float32))


def test_engine_errors_are_ae_error_with_the_message(fashion, tmp_path):
    X = fashion["X"][:100]
    with pytest.raises(ae.Error, match="spec") as e:
        ae.Autoencoder(spec="784-abc-784", verbose=0).fit(X)
    assert isinstance(e.value, ValueError) and "\n" not in str(e.value)
    with pytest.raises(ae.Error, match=r"^sparsity: unknown sparsity 'l2:0.1'; expected l1:LAMBDA"):
        ae.Autoencoder(sparsity="l2:0.1", verbose=0).fit(X)
    with pytest.raises(ae.Error, match=r"beta='2'.*no variational code layer"):
        ae.Autoencoder(beta=2, verbose=0).fit(X)
    with pytest.raises(ae.Error, match="optimizer"):
        ae.Autoencoder(optimizer="adamax", verbose=0).fit(X)
    with pytest.raises(ae.Error, match="loss"):
        ae.Autoencoder(loss="huber", verbose=0).fit(X)
    with pytest.raises(ValueError, match="precision='fp8': expected one of fp32, bf16, fp16, tf32"):
        ae.Autoencoder(precision="fp8", verbose=0).fit(X)
    with pytest.raises(ae.Error, match="fp16 is not available on the cpu backend"):
        ae.Autoencoder(precision="fp16", device="cpu", verbose=0).fit(X)
    with pytest.raises(ValueError, match="contamination"):
        ae.Autoencoder(contamination=1.5, verbose=0).fit(X)
    with pytest.raises(ae.Error, match="missing.safetensors"):
        ae.load(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(ae.Error, match="junk.safetensors"):
        ae.load(junk)
    with pytest.raises(ae.Error):
        ae.Autoencoder(verbose=0).fit(X).save(tmp_path / "no" / "such" / "dir.safetensors")


def test_not_fitted(fashion):
    with pytest.raises(NotFittedError):
        ae.Autoencoder().transform(fashion["X"][:2])


def test_parameters_are_checked_by_name_before_any_work(fashion):
    X = fashion["X"][:100]
    for params, error, message in [
        (dict(batch_size=16.5), TypeError, "batch_size must be an integer, got 16.5"),
        (dict(epochs=2**70), ValueError, "epochs=1180591620717411303424 must be in"),
        (dict(threads=-1), ValueError, "threads=-1 must be in"),
        (dict(tied="no"), TypeError, "tied must be True or False"),
        (dict(sparsity=["l1"]), TypeError, "sparsity must be a string"),
        (dict(lr="fast"), TypeError, "lr must be a number or None"),
        (dict(seed=-3), ValueError, "seed=-3"),
        (dict(patience=3), ValueError, "patience and keep_best watch the validation loss: pass X_val"),
    ]:
        est = ae.Autoencoder(verbose=0, **params)
        with pytest.raises(error, match=message):
            est.fit(X)
        assert not hasattr(est, "model_"), params  # nothing was fitted
    # the engine's own checks name keyword arguments, not CLI flags
    with pytest.raises(ae.Error, match=r"^momentum and nesterov apply to sgd and rmsprop, not adam$"):
        ae.Autoencoder(momentum=0.9, verbose=0).fit(X)
    with pytest.raises(ae.Error, match=r"^lr_gamma must be > 0, got -1$"):
        ae.Autoencoder(lr_gamma=-1, verbose=0).fit(X)
    with pytest.raises(ValueError, match="n=-1"):
        ae.Autoencoder(spec="784-16r-4v-16r-784s", verbose=0, epochs=1).fit(X).sample(-1)


def test_nan_rows_are_refused_by_scoring(est, fashion):
    X = fashion["X_test"][:5].copy()
    X[3, 100] = np.inf
    for call in (est.decision_function, est.predict, est.score_samples):
        with pytest.raises(ValueError, match=r"X contains NaN or infinity \(first at row 3, column 100\)"):
            call(X)


def test_a_refit_leaves_no_stale_attributes(fashion):
    X = fashion["X"][:600]
    est = ae.Autoencoder(spec="784-32r-8-32r-784s", epochs=1, verbose=0, contamination=0.1).fit(X)
    assert len(est.labels_) == 600
    est.set_params(contamination=None)
    est.fit(X[:300])
    assert not hasattr(est, "labels_") and len(est.decision_scores_) == 300
    with pytest.raises(ValueError, match="no anomaly threshold"):
        est.fit_predict(X[:300])


def test_a_progress_function_cannot_call_its_own_model(fashion):
    X = fashion["X"][:300]
    m = ae._core.Model.create("784-32r-8-32r-784s", 1, "mse")
    seen = []

    def progress(p):
        seen.append(p["step"])
        m.encode(X[:1])  # would wait forever on the model's own lock: refused instead

    with pytest.raises(ValueError, match="a progress function cannot use its own model"):
        m.train(X, None, progress, epochs=1, batch=100)
    assert seen == [1] and m.steps_trained == 1
    assert m.encode(X[:2]).shape == (2, 8)  # and the model is usable afterwards
