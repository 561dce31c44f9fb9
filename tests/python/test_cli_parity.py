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


def test_bf16_fit_and_transform_agree_with_the_cli(fashion, tmp_path, run_ae):
    if "avx512_bf16" not in open("/proc/cpuinfo").read() and "amx_bf16" not in open("/proc/cpuinfo").read():
        import pytest
        pytest.skip("bf16 needs AVX512_BF16 or AMX")
    X, Xt = fashion["X"], fashion["X_test"]
    kw = dict(spec="784-128r-32-128r-784s", epochs=2, verbose=0, threads=2)
    f32 = ae.Autoencoder(**kw).fit(X)
    b16 = ae.Autoencoder(precision="bf16", **kw).fit(X)
    assert b16.model_.precision == "bf16" and f32.model_.precision == "fp32"
    c32, c16 = f32.transform(Xt), b16.transform(Xt)
    assert not np.array_equal(c32, c16)  # it did run in bf16
    # the same network from the same seed: bf16's training path stays close to fp32's
    err32 = np.mean((f32.inverse_transform(c32) - Xt) ** 2)
    err16 = np.mean((b16.inverse_transform(c16) - Xt) ** 2)
    assert abs(err16 - err32) / err32 < 0.05, (err32, err16)
    model = tmp_path / "b16.safetensors"
    b16.save(model)
    np.save(tmp_path / "x.npy", Xt)
    run_ae("encode", "--model", model, "--data", tmp_path / "x.npy", "--out", tmp_path / "codes.npy", "--quiet",
           "--precision", "bf16", "--threads", 2)
    np.testing.assert_array_equal(c16, np.load(tmp_path / "codes.npy"))
    assert "precision: bf16" in run_ae("info", "--model", model).stdout
    # a file opens in fp32; the estimator's precision follows it through pickling
    assert ae.load(model).model_.precision == "fp32"
    import pickle
    assert pickle.loads(pickle.dumps(b16)).model_.precision == "bf16"
