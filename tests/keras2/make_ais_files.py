"""Run by a Keras 2 Python (tf.keras 2.8-2.15, e.g. a venv with ``tensorflow-cpu==2.15.1``): write
model files the way Ais 1.2.40 writes them, for every network described in a folder of Keras 2
descriptions (``shared/data/real/ais_architectures``: ``model.to_json()`` of what Ais builds).

usage: python make_ais_files.py ARCH_FOLDER OUT_FOLDER [TITLE ...]

For each title: the network is rebuilt by Keras 2 itself from Ais's description, for inference
as Ais's ``toggle_inference`` does (input ``(1, None, None, channels)``), given seeded weights
(biases and batch-normalisation statistics too, so that they matter) and saved as Ais saves a
model: ``OUT/<stem>.scnm``, an uncompressed tar of ``<title>_weights.h5`` (``model.save``, no
optimizer) and ``<title>_metadata.json``. Beside it ``<stem>.x.npy`` (an input) and
``<stem>.y.npy`` (Keras 2's prediction of it, batch by batch as Ais predicts). Pix2pix (no
Keras description: Ais builds it in code) is its generator, which is what Ais saves. "MyNet" is a
user's own network of standard layers, one that no plugin builds.
Prints one JSON line per file.
"""
import io
import json
import os
import sys
import tarfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

FILES = {"Eman2": "eman2.json", "VGGNet S": "vggnet_s.json", "VGGNet M": "vggnet_m.json", "VGGNet L": "vggnet_l.json",
         "VGGNet X": "vggnet_x.json", "UNet S": "unet_s.json", "UNet M": "unet_m.json", "UNet L": "unet_l.json",
         "ResNet": "resnet.json", "InceptionNet": "inceptionnet.json", "ezm-2d": "easymode_2d.json",
         "ezm-2d-bxe": "easymode_2d_bxe.json", "ezm-2d-dice": "easymode_2d_dice.json", "Pix2pix": None,
         "MyNet": None}
# Ais 1.2.x's model_enum order (what its metadata stores beside "arch")
ENUM_ORDER = ("ezm-2d-dice", "ezm-2d-bxe", "ezm-3d", "ezm-3d-bxe", "ezm-3d-filament", "Eman2", "InceptionNet", "Pix2pix",
              "cryoPom-bxe", "cryoPom-comb", "cryoPom-dice", "ResNet", "UNet L", "UNet S", "VGGNet L", "VGGNet M",
              "VGGNet S", "VGGNet X")
ENUM = {t: ENUM_ORDER.index(t) if t in ENUM_ORDER else 0 for t in FILES}


def pix2pix_generator(channels=1):
    """Ais 1.2.40's Pix2pix generator, in tf.keras (Ais builds it in code, not from a description)."""
    L = tf.keras.layers

    def down(x, f, bn=True):
        x = L.LeakyReLU(alpha=0.2)(L.Conv2D(f, kernel_size=4, strides=2, padding="same")(x))
        return L.BatchNormalization(momentum=0.8)(x) if bn else x

    def upc(x, skip, f):
        x = L.Conv2D(f, kernel_size=4, strides=1, padding="same", activation="relu")(L.UpSampling2D(size=2)(x))
        return L.Concatenate(axis=-1)([L.BatchNormalization(momentum=0.8)(x), skip])

    d0 = L.Input(shape=(None, None, channels))
    d1 = down(d0, 64, bn=False)
    d2 = down(d1, 128)
    d3 = down(d2, 256)
    d4 = down(d3, 512)
    d5 = down(d4, 512)
    u = upc(upc(upc(upc(d5, d4, 512), d3, 256), d2, 128), d1, 64)
    out = L.Conv2D(1, kernel_size=4, strides=1, padding="same", activation="sigmoid")(L.UpSampling2D(size=2)(u))
    return tf.keras.Model(d0, out)


def own_network(channels=1):
    """A user's own network (Ais loads plugins from a user folder too): standard layers that no
    built-in plugin of Ais or ais_like combines this way, with settings Keras 3 does not take as
    Keras 2 writes them (``groups`` on Conv2DTranspose, BatchNormalization's axis as a list)."""
    L = tf.keras.layers
    x0 = L.Input(shape=(None, None, channels))
    a = L.Conv2D(16, 3, padding="same", activation="elu")(x0)
    b = L.SeparableConv2D(16, 3, padding="same")(a)
    b = L.BatchNormalization()(b)
    b = L.LeakyReLU(alpha=0.1)(b)
    c = L.Add()([a, b])
    d = L.MaxPooling2D()(c)
    d = L.Conv2D(32, 3, padding="same", activation="relu", dilation_rate=2)(d)
    d = L.Dropout(0.3)(d)
    u = L.Conv2DTranspose(16, 2, strides=2, padding="same")(d)
    m = L.Concatenate()([u, c])
    m = L.Activation("swish")(m)
    out = L.Conv2D(1, 1, activation="sigmoid")(m)
    return tf.keras.Model(x0, out)


def build(folder, title):
    if title == "MyNet":
        model = own_network()
    elif FILES[title] is None:
        model = pix2pix_generator()
    else:
        with open(os.path.join(folder, FILES[title])) as f:
            model = tf.keras.models.model_from_json(f.read())
    config = model.get_config()  # Ais's inference graph: batch 1, any height and width
    shape = list(config["layers"][0]["config"]["batch_input_shape"])
    shape[0], shape[1], shape[2] = 1, None, None
    config["layers"][0]["config"]["batch_input_shape"] = tuple(shape)
    return tf.keras.Model.from_config(config)


def seeded_weights(model, seed):
    rng = np.random.default_rng(seed)
    out = []
    for w in model.weights:
        v = w.numpy()
        name = w.name
        if "moving_variance" in name:
            v = rng.uniform(0.5, 2.0, v.shape)
        elif "moving_mean" in name or "beta" in name or "bias" in name:
            v = rng.normal(0, 0.05, v.shape)
        elif "gamma" in name:
            v = rng.uniform(0.8, 1.2, v.shape)
        out.append(v.astype(np.float32))
    model.set_weights(out)


def main(folder, out, titles):
    os.makedirs(out, exist_ok=True)
    tf.keras.utils.set_random_seed(0)
    for title in titles or list(FILES):
        t0 = time.time()
        model = build(folder, title)
        seeded_weights(model, 1)
        stem = title.lower().replace(" ", "_")
        h5 = os.path.join(out, f"{stem}_weights.h5")
        model.save(h5, include_optimizer=False)
        meta = {"title": f"Ais {title}", "colour": [0.26, 0.84, 0.64], "apix": 10.0, "compiled": True, "box_size": 64,
                "model_depth": 1, "filament_diameter": None, "model_enum": ENUM[title], "arch": title, "epochs": 1,
                "batch_size": 32, "active": True, "blend": False, "show": True, "alpha": 0.75, "threshold": 0.5,
                "overlap": 0.2, "active_tab": 0, "n_parameters": int(model.count_params()), "n_copies": 10,
                "info": f"{title} (test)", "info_short": f"({title})", "excess_negative": -100, "emit": False,
                "absorb": False, "loss": 0.5, "normalization": "global_mad", "z_jitter": 0, "tta": 1}
        base = meta["title"]
        with tarfile.open(os.path.join(out, f"{stem}.scnm"), "w") as tar:
            for name, data in ((f"{base}_weights.h5", open(h5, "rb").read()),
                               (f"{base}_metadata.json", json.dumps(meta).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        os.unlink(h5)
        x = np.random.default_rng(2).normal(size=(2, 64, 96, 1)).astype(np.float32)
        y = np.concatenate([model.predict(x[i:i + 1], verbose=0) for i in range(len(x))])
        np.save(os.path.join(out, f"{stem}.x.npy"), x)
        np.save(os.path.join(out, f"{stem}.y.npy"), y.astype(np.float32))
        print(json.dumps({"title": title, "file": f"{stem}.scnm", "params": int(model.count_params()),
                          "tensorflow": tf.__version__, "seconds": round(time.time() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
