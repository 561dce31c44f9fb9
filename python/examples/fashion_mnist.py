import gzip

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import ae

def fashion(kind):  # Debian's dataset-fashion-mnist: images scaled to [0, 1], labels
    d = "/usr/share/datasets/fashion-mnist/"
    with gzip.open(f"{d}{kind}-images-idx3-ubyte.gz") as f:
        X = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255
    with gzip.open(f"{d}{kind}-labels-idx1-ubyte.gz") as f:
        return X, np.frombuffer(f.read(), np.uint8, offset=8)

X, y = fashion("train")
X_test, y_test = fashion("t10k")

# Train the default autoencoder: 10 epochs, validation loss each epoch, 1% of rows flagged.
model = ae.Autoencoder(spec="784-256r-32-256r-784s", epochs=10, contamination=0.01)
model.fit(X, X_val=X_test)
codes = model.transform(X_test)  # float32 (10000, 32): X_test was read in place, no copy
print(f"codes {codes.shape}, test MSE per pixel {-model.score(X_test):.6f}")

# Anomaly scores: reconstruction error per row, flagged above the fitted threshold.
scores = model.decision_function(X_test)
print(f"threshold {model.threshold_:.5f}: {model.predict(X_test).sum()} of {len(X_test)} test images flagged")
classes = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]
by_class = sorted(range(10), key=lambda c: -scores[y_test == c].mean())
print("highest mean score:", ", ".join(f"{classes[c]} {scores[y_test == c].mean():.4f}" for c in by_class[:3]))

# The codes as features in a scikit-learn Pipeline: scale, encode to 32 numbers, classify.
clf = make_pipeline(StandardScaler(), ae.Autoencoder(spec="784-256r-32-256r-784", epochs=10, verbose=0),
                    LogisticRegression(max_iter=2000))
clf.fit(X, y)
print(f"logistic regression on the 32-number codes: test accuracy {clf.score(X_test, y_test):.4f}")

model.save("fashion.safetensors")  # the file `ae info`, `ae encode`, `ae score` ... read
