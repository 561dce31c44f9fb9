"""ae for Python: train autoencoders on numpy arrays with ae's engine (libae).

    import ae
    model = ae.Autoencoder(spec="784-256r-32-256r-784s", epochs=10).fit(X)
    codes = model.transform(X)              # [rows, 32] float32
    scores = model.decision_function(X)     # reconstruction error per row: higher is more anomalous
    model.save("model.safetensors")         # the file `ae info`, `ae encode`, ... read

`Autoencoder` follows scikit-learn's conventions (get_params/set_params, clone, Pipeline,
GridSearchCV) and PyOD's for anomaly detection (decision_function, predict, threshold_).
"""

from ._core import Error, __version__
from ._estimator import Autoencoder, load

__all__ = ["Autoencoder", "Error", "load", "__version__"]
