"""ae.Autoencoder on numpy arrays: fitting, codes, decoding, scores, generative models, files."""

import math
import pickle

import numpy as np
import pytest

import ae

SMALL = "784-64r-16-64r-784s"


def fit_small(X, **kw):
    params = dict(spec=SMALL, epochs=3, batch_size=128, verbose=0, threads=2)
    params.update(kw)
    return ae.Autoencoder(**params).fit(X)


def test_fit_transform_inverse_transform(fashion):
    X, Xt = fashion["X"], fashion["X_test"]
    est = fit_small(X)
    codes = est.transform(Xt)
    assert codes.shape == (len(Xt), 16) and codes.dtype == np.float32
    assert np.isfinite(codes).all() and codes.std() > 0
    back = est.inverse_transform(codes)
    assert back.shape == Xt.shape and back.dtype == np.float32
    # decode(encode(x)) is the reconstruction, and it is much better than predicting the mean image
    np.testing.assert_allclose(back, est.reconstruct(Xt), rtol=0, atol=1e-6)
    mse = float(np.mean((back - Xt) ** 2))
    baseline = float(np.mean((X.mean(axis=0) - Xt) ** 2))
    assert mse < 0.6 * baseline, (mse, baseline)
    # the reported per-row scores are that error, averaged over the features
    np.testing.assert_allclose(est.decision_function(Xt), np.mean((est.reconstruct(Xt) - Xt) ** 2, axis=1), rtol=2e-4, atol=1e-7)
    assert est.n_features_in_ == 784 and est.code_width_ == 16


def test_history_and_validation(fashion):
    X, Xt = fashion["X"], fashion["X_test"]
    est = ae.Autoencoder(spec=SMALL, epochs=3, batch_size=128, verbose=0).fit(X, X_val=Xt)
    h = est.history_
    assert [e["epoch"] for e in h] == [1, 2, 3]
    assert h[-1]["step"] == est.n_steps_ == 3 * math.ceil(len(X) / 128)
    assert h[-1]["train_loss"] < h[0]["train_loss"]
    assert all(e["val_loss"] is not None for e in h) and h[-1]["val_loss"] < h[0]["val_loss"]
    # the validation loss is the model's loss on X_val: the mean of its per-row scores
    assert h[-1]["val_loss"] == pytest.approx(float(np.mean(est.decision_function(Xt), dtype=np.float64)), rel=1e-5)
    assert est.fit_summary_["val_loss"] == pytest.approx(h[-1]["val_loss"])


def test_regularisers_reach_the_engine(fashion):
    X = fashion["X"][:1000]
    sparse = fit_small(X, sparsity="l1:0.01", epochs=2)
    assert set(sparse.history_[-1]["terms"]) >= {"recon", "sparsity"}, sparse.history_[-1]
    denoise = fit_small(X, noise="mask:0.3", epochs=1)
    plain = fit_small(X, epochs=1)
    assert not np.array_equal(denoise.transform(X[:5]), plain.transform(X[:5]))
    assert "mask" in denoise.model_.spec
    tied = fit_small(X, tied=True, epochs=1)
    assert tied.model_.spec != plain.model_.spec


def test_anomaly_scores_threshold_and_predict(fashion):
    X = fashion["X"]
    est = fit_small(X, contamination=0.05)
    # PyOD's convention: about the contamination fraction of the training rows is flagged
    assert est.labels_.mean() == pytest.approx(0.05, abs=0.002)
    np.testing.assert_array_equal(est.predict(X), est.labels_)
    np.testing.assert_array_equal(est.decision_scores_, est.decision_function(X))
    assert np.quantile(est.decision_scores_, 0.95) == pytest.approx(est.threshold_, rel=1e-6)
    np.testing.assert_array_equal(est.score_samples(X), -est.decision_function(X))
    # score: minus the mean squared reconstruction error (for mse without normalisation, the mean score)
    assert est.score(X) == pytest.approx(-float(np.mean(est.decision_function(X), dtype=np.float64)), rel=1e-5)
    none = fit_small(X[:500], contamination=None, epochs=1)
    assert math.isnan(none.threshold_)
    with pytest.raises(ValueError, match="no anomaly threshold"):
        none.predict(X[:5])


def test_variational_model_samples(fashion, tmp_path, run_ae):
    X = fashion["X"]
    vae = fit_small(X, spec="784-64r-8v-64r-784s", loss="bce", epochs=2)
    assert vae.model_.variational
    s = vae.sample(6, seed=3)
    assert s.shape == (6, 784) and s.dtype == np.float32 and (s >= 0).all() and (s <= 1).all()
    np.testing.assert_array_equal(s, vae.sample(6, seed=3))
    assert not np.array_equal(s, vae.sample(6, seed=4))
    # the rows `ae sample` draws from the same file and seed
    vae.save(tmp_path / "vae.safetensors")
    run_ae("sample", "--model", tmp_path / "vae.safetensors", "--n", 6, "--seed", 3, "--out", tmp_path / "s.npy", "--quiet")
    np.testing.assert_array_equal(s, np.load(tmp_path / "s.npy"))
    with pytest.raises(ValueError, match="not generative"):
        fit_small(X[:300], epochs=1).sample(2)


def test_save_and_load_round_trip(fashion, tmp_path):
    X, Xt = fashion["X"], fashion["X_test"]
    est = fit_small(X, normalize="zscore")
    path = tmp_path / "m.safetensors"
    est.save(path)
    back = ae.load(path)
    np.testing.assert_array_equal(back.transform(Xt), est.transform(Xt))
    np.testing.assert_array_equal(back.reconstruct(Xt), est.reconstruct(Xt))
    np.testing.assert_array_equal(back.predict(Xt), est.predict(Xt))
    assert back.threshold_ == est.threshold_ and back.history_ == est.history_
    assert back.spec == est.model_.spec and back.contamination == pytest.approx(0.1)
    # its parameters are what the file records: a clone of it trains the same model again
    assert back.normalize == "zscore" and back.batch_size == 128 and back.epochs == 3 and back.seed == 1
    from sklearn.base import clone

    np.testing.assert_array_equal(clone(back).set_params(threads=2).fit(X).transform(Xt), est.transform(Xt))
    assert ae.load(path, threads=1).model_.threads == 1  # serving one row at a time beside other work
    # pickling (joblib, multiprocessing) carries the model file
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.transform(Xt), est.transform(Xt))
    assert again.get_params() == est.get_params()


def test_float32_c_contiguous_input_is_not_copied(fashion):
    X = fashion["X_test"]
    est = fit_small(fashion["X"], epochs=1)
    assert X.dtype == np.float32 and X.flags.c_contiguous
    codes = est.transform(X)
    assert est.model_.last_input_address == X.ctypes.data  # the engine read the caller's memory
    est.decision_function(X)
    assert est.model_.last_input_address == X.ctypes.data
    view = X[10:20]  # a C-contiguous slice: still no copy
    est.transform(view)
    assert est.model_.last_input_address == view.ctypes.data
    # other layouts and dtypes are converted once, to the same codes
    for other in (np.asfortranarray(X), X.astype(np.float64)):
        np.testing.assert_array_equal(est.transform(other), codes)
        assert est.model_.last_input_address != other.ctypes.data
    strided = X[::2]
    np.testing.assert_array_equal(est.transform(strided), codes[::2])
    assert est.model_.last_input_address != strided.ctypes.data
    np.testing.assert_array_equal(est.transform(X[:3].tolist()), codes[:3])


def test_fit_scores_the_float32_training_rows_in_place(fashion):
    X = fashion["X"][:512]
    est = fit_small(X, epochs=1)
    # the last call of fit scores X for decision_scores_: through the caller's array
    assert est.model_.last_input_address == X.ctypes.data
