"""scikit-learn conventions: get_params/set_params, clone, Pipeline, GridSearchCV."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import ae


def test_params_and_clone(fashion):
    est = ae.Autoencoder(spec="784-32r-8-32r-784s", epochs=1, sparsity="l1:0.001", verbose=0)
    params = est.get_params()
    for name in ("spec", "loss", "optimizer", "lr", "epochs", "batch_size", "seed", "device", "threads", "normalize",
                 "tied", "sparsity", "noise", "contractive", "beta", "kl_warmup", "adversarial", "prior", "precision",
                 "contamination", "verbose"):
        assert name in params
    assert params["sparsity"] == "l1:0.001" and params["device"] == "auto"
    assert est.set_params(epochs=2) is est and est.epochs == 2
    with pytest.raises(ValueError):
        est.set_params(epochz=3)
    est.fit(fashion["X"][:300])
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "model_")  # a clone is unfitted
    # the same parameters and seed train the same model
    np.testing.assert_array_equal(twin.fit(fashion["X"][:300]).transform(fashion["X_test"][:50]),
                                  est.transform(fashion["X_test"][:50]))


def test_pipeline_with_standard_scaler(fashion):
    X, Xt = fashion["X"], fashion["X_test"]
    pipe = Pipeline([("scale", StandardScaler()), ("ae", ae.Autoencoder(spec="784-64r-12-64r-784", epochs=3, verbose=0))])
    codes = pipe.fit(X).transform(Xt)
    assert codes.shape == (len(Xt), 12)
    # the pipeline's codes are the estimator's codes of the scaled rows
    np.testing.assert_array_equal(codes, pipe.named_steps["ae"].transform(pipe.named_steps["scale"].transform(Xt)))
    # its reconstructions (in scaled units) beat predicting the mean, which is 0 after scaling
    Z = pipe.named_steps["scale"].transform(Xt).astype(np.float32)
    assert np.mean((pipe.named_steps["ae"].reconstruct(Z) - Z) ** 2) < 0.8 * np.mean(Z ** 2)
    assert pipe.score(Xt) == pytest.approx(pipe.named_steps["ae"].score(Z))


def test_grid_search_prefers_the_wider_code(fashion):
    X = fashion["X"][:2000]
    grid = GridSearchCV(ae.Autoencoder(epochs=3, batch_size=128, verbose=0),
                        {"spec": ["784-64r-2-64r-784s", "784-64r-24-64r-784s"]}, cv=2)
    grid.fit(X)
    # a 24-unit code reconstructs held-out rows far better than a 2-unit one
    assert grid.best_params_ == {"spec": "784-64r-24-64r-784s"}, grid.cv_results_["mean_test_score"]
    assert grid.best_estimator_.transform(X[:5]).shape == (5, 24)
    scores = grid.cv_results_["mean_test_score"]
    assert scores[1] > scores[0] and all(s < 0 for s in scores)
