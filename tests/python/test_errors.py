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
    with pytest.raises(ValueError, match="precision='bf16'"):
        ae.Autoencoder(precision="bf16", verbose=0).fit(X)
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
