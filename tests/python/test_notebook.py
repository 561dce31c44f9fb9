"""What a notebook needs: training releases the GIL, reports progress, and stops cleanly on Ctrl-C."""

import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

import ae


def long_fit(**kw):
    return ae.Autoencoder(spec="784-256r-32-256r-784s", epochs=400, batch_size=64, threads=1, **kw)


def test_ctrl_c_stops_training_between_steps_and_leaves_a_usable_model(fashion):
    X = fashion["X"]
    est = long_fit(verbose=0)
    total = 400 * int(np.ceil(len(X) / 64))
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))  # a real SIGINT, as Ctrl-C sends
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        est.fit(X)
    elapsed = time.monotonic() - start
    timer.join()
    assert elapsed < 10, elapsed  # it stopped at once, not at the end of 400 epochs
    assert 0 < est.n_steps_ < total
    assert est.history_ and est.history_[-1]["step"] == est.n_steps_  # the interrupted interval is logged
    codes = est.transform(fashion["X_test"][:10])  # usable: the weights trained so far
    assert codes.shape == (10, 32) and np.isfinite(codes).all()
    # and fit again works from scratch
    est.set_params(epochs=1)
    assert est.fit(X[:256]).n_steps_ == 4


def test_an_exception_in_the_progress_bar_stops_training(fashion, monkeypatch):
    est = long_fit(verbose=1)

    class Boom(RuntimeError):
        pass

    calls = []

    def update(self, p):
        calls.append(p["step"])
        if p["step"] == 3:
            raise Boom("from the progress callback")

    monkeypatch.setattr(ae._estimator._ProgressBar, "update", update)
    with pytest.raises(Boom):
        est.fit(fashion["X"])
    assert calls == [1, 2, 3]
    assert est.n_steps_ == 3  # training stops after the step whose callback raised


def test_training_releases_the_gil(fashion):
    X = fashion["X"]
    est = ae.Autoencoder(spec="784-256r-32-256r-784s", epochs=6, batch_size=64, threads=1, verbose=0)
    done = threading.Event()
    span = []

    def fit():
        span.append(time.monotonic())
        est.fit(X)
        span.append(time.monotonic())
        done.set()

    t = threading.Thread(target=fit)
    t.start()
    ticks = [time.monotonic()]
    while not done.is_set():  # pure-Python work on this thread while the other trains
        ticks.append(time.monotonic())
    t.join()
    assert est.n_steps_ == 6 * 47
    start, end = span
    during = np.array([x for x in ticks if start <= x <= end])
    gaps = np.diff(np.concatenate([[start], during, [end]]))
    # Held by the training thread, the GIL would stop this loop for the whole fit; released, the
    # loop runs throughout (the training thread takes it only for a moment after each step).
    assert end - start > 0.2, end - start
    assert gaps.max() < 0.5 * (end - start), (gaps.max(), end - start)
    assert len(during) > 1000


def test_a_property_read_while_another_thread_trains_does_not_deadlock(fashion):
    X = fashion["X"]
    m = ae._core.Model.create("784-256r-32-256r-784s", 1, "mse")
    done = threading.Event()
    t = threading.Thread(target=lambda: (m.train(X, None, None, epochs=3, batch=64, threads=1), done.set()))
    t.start()
    reads = 0
    while not done.is_set():  # each read waits for the lock train holds, with the GIL released
        m.steps_trained, m.threshold, m.history_json
        reads += 1
    t.join(timeout=60)
    assert not t.is_alive() and m.steps_trained == 3 * 47 and reads >= 1


def test_progress_lines_and_verbose_0(fashion, capfd, monkeypatch):
    X = fashion["X"][:1000]
    ae.Autoencoder(spec="784-32r-8-32r-784s", epochs=2, verbose=0).fit(X)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    ae.Autoencoder(spec="784-32r-8-32r-784s", epochs=2, verbose=1).fit(X, X_val=X[:100])
    err = capfd.readouterr().err
    assert "epoch 1  step 4/8  train loss" in err and "epoch 2  step 8/8" in err and "val loss" in err
    assert "100%" in err  # tqdm's bar
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # without tqdm: plain lines
    ae.Autoencoder(spec="784-32r-8-32r-784s", epochs=2, verbose=1).fit(X)
    err = capfd.readouterr().err
    assert err.count("epoch ") == 2 and "%" not in err
