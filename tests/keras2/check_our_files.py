"""Run by a Keras 2 Python (tf.keras 2.x): load HDF5 models as Ais does and compare predictions.

usage: python check_our_files.py MODEL.h5 [...]; each MODEL.h5 has MODEL.h5.x.npy (input) and
MODEL.h5.y.npy (Keras 3's prediction) beside it. Prints one JSON line per model.
Also rebuilds the inference graph the way Ais's ``toggle_inference`` does (first layer's
``batch_input_shape`` set to (1, None, None, c)) to show that Ais's own code path accepts the file.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

for path in sys.argv[1:]:
    out = {"file": os.path.basename(path), "tensorflow": tf.__version__}
    try:
        model = tf.keras.models.load_model(path, compile=False)
        config = model.get_config()
        shape = list(config["layers"][0]["config"]["batch_input_shape"])
        shape[0], shape[1], shape[2] = 1, None, None
        config["layers"][0]["config"]["batch_input_shape"] = tuple(shape)
        rebuilt = tf.keras.Model.from_config(config)
        rebuilt.set_weights(model.get_weights())
        x = np.load(path + ".x.npy")
        y = np.load(path + ".y.npy")
        pred = np.concatenate([rebuilt.predict(x[i:i + 1], verbose=0) for i in range(len(x))])
        out.update(ok=True, max_abs_diff=float(np.abs(pred - y).max()), params=int(model.count_params()))
    except Exception as exc:  # report, do not crash: the caller asserts
        out.update(ok=False, error=" ".join(str(exc).split())[:400])
    print(json.dumps(out), flush=True)
