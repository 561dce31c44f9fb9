"""The Python module and the `ae` command read and write the same model files and agree bit for bit."""

import numpy as np

import ae


def test_codes_and_scores_equal_the_cli(fashion, tmp_path, run_ae):
    X, Xt = fashion["X"], fashion["X_test"]
    est = ae.Autoencoder(spec="784-128r-32-128r-784s", epochs=2, verbose=0, normalize="minmax").fit(X)
    model = tmp_path / "py.safetensors"
    est.save(model)
    np.save(tmp_path / "x.npy", Xt)
    run_ae("encode", "--model", model, "--data", tmp_path / "x.npy", "--out", tmp_path / "codes.npy", "--quiet")
    np.testing.assert_array_equal(est.transform(Xt), np.load(tmp_path / "codes.npy"))
    run_ae("decode", "--model", model, "--codes", tmp_path / "codes.npy", "--out", tmp_path / "dec.npy", "--quiet")
    np.testing.assert_array_equal(est.inverse_transform(est.transform(Xt)), np.load(tmp_path / "dec.npy"))
    run_ae("score", "--model", model, "--data", tmp_path / "x.npy", "--out", tmp_path / "scores.csv", "--quiet")
    cli_scores = np.loadtxt(tmp_path / "scores.csv", delimiter=",", skiprows=1, usecols=1, dtype=np.float64)
    np.testing.assert_allclose(est.decision_function(Xt), cli_scores, rtol=1e-6)
    # a model trained in Python opens in `ae info`, with what it was trained on
    info = run_ae("info", "--model", model).stdout
    assert "784-128r-32-128r-784s" in info and "numpy array [3000 x 784] (Python)" in info and "minmax" in info, info


def test_a_cli_model_opens_in_python(fashion, tmp_path, run_ae):
    np.save(tmp_path / "train.npy", fashion["X"][:1000])
    model = tmp_path / "cli.safetensors"
    run_ae("train", "--spec", "784-64r-16-64r-784s", "--data", tmp_path / "train.npy", "--epochs", 2, "--no-val",
           "--contamination", 0.1, "--out", model, "--checkpoint", "none", "--quiet")
    est = ae.load(model)
    assert est.spec == "784-64r-16-64r-784s" and est.code_width_ == 16 and est.contamination == 0.1
    assert [h["epoch"] for h in est.history_] == [1, 2]
    np.save(tmp_path / "x.npy", fashion["X_test"])
    run_ae("encode", "--model", model, "--data", tmp_path / "x.npy", "--out", tmp_path / "codes.npy", "--quiet")
    np.testing.assert_array_equal(est.transform(fashion["X_test"]), np.load(tmp_path / "codes.npy"))
    flagged = est.predict(fashion["X"][:1000])
    assert 0.09 <= flagged.mean() <= 0.11


def test_the_readme_python_example_is_the_example_file():
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "python" / "examples" / "fashion_mnist.py").read_text()
    assert "```python\n" + example + "```" in readme
