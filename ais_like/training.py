"""Training a model on a training set (``ais_like.trainset.TrainingSet``).

``compile_for_training`` compiles a Keras model with Adam and a loss that ignores label 2;
architecture plugins call it from ``create``. :func:`train` runs the epochs with a callback
interface (per-batch and per-epoch losses, stop requests) shared by the CLI's progress bar and
the GUI's live plot, and keeps the best epoch's weights. After every epoch it measures batch
normalisation's running statistics (:func:`recalibrate_batch_norm`) and checks what the model
predicts on annotated tiles (:func:`assess` -> :class:`Health`): a model that predicts only
background, everything, or the same everywhere is reported, never passed off as trained.
:func:`train_feature_model` builds an architecture, trains it (again from another
initialisation when the check fails) and returns the model with its ``.scnm`` metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .registry import DEFAULT_LEARNING_RATE  # the plugins' default, ours too
DEFAULT_LOSS = "bce_dice"


def compile_for_training(model, learning_rate: float | None = DEFAULT_LEARNING_RATE, loss: str = DEFAULT_LOSS,
                         *, jit_compile="auto", steps_per_execution: int = 1):
    """Compile ``model`` with Adam(``learning_rate``) and a masked loss; returns the model.

    Parameters
    ----------
    model : keras.Model
    learning_rate : float, optional
        Adam's learning rate (``DEFAULT_LEARNING_RATE`` when None).
    loss : str
        "bce", "dice" or "bce_dice" (see ``ais_like.losses``); label 2 is ignored by all.
    jit_compile : bool or "auto"
        XLA compilation of the training step (TensorFlow / JAX backends).
    steps_per_execution : int
        Batches run per call into the backend (fewer Python round trips).
    """
    from .backend import keras
    from .losses import get_loss

    k = keras()
    lr = DEFAULT_LEARNING_RATE if learning_rate is None else float(learning_rate)
    if k.backend.backend() == "torch":
        jit_compile = False  # torch.compile is slower than eager for these small CPU runs
    model.compile(optimizer=k.optimizers.Adam(learning_rate=lr), loss=get_loss(loss),
                  jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    return model


def cpu_has_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (AVX-512 BF16 or AMX; Linux flags)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def training_speedups(model, fast: bool | None = None) -> dict:
    """How :func:`train_feature_model` trains ``model`` on this machine: a dict of
    :func:`training_copy`'s ``fft``, ``bf16`` and ``jit_compile`` (all False: train the model
    itself, in float32, as compiled).

    The defaults (measured in benchmarks/RESULTS.md, "Training"), on the TensorFlow backend only:

    - ``fft``: convolutions with kernels of 7 x 7 and more (Eman2's 15 x 15) through the FFT;
      off with ``AIS_LIKE_NO_FFT=1`` (which also turns off FFT inference);
    - ``jit_compile``: XLA, when the copy has FFT convolutions (XLA fuses their many small
      operations; it makes networks of 3 x 3 convolutions slower on the CPU, whose oneDNN
      convolutions it replaces); ``AIS_LIKE_TRAIN_XLA=0/1`` forces it off / on;
    - ``bf16``: mixed bfloat16 for the directly computed convolutions, when the CPU has
      AVX-512 BF16 or AMX; ``AIS_LIKE_TRAIN_BF16=0/1`` forces it off / on.

    ``fast=False`` (or ``AIS_LIKE_TRAIN_PLAIN=1``) turns all of them off; custom models (no
    Keras layers), other backends and machines with a GPU always train as they are.
    """
    off = {"fft": False, "bf16": False, "jit_compile": False}
    from .backend import env_flag, has_gpu, keras

    k = keras()
    if fast is None:
        fast = not env_flag("AIS_LIKE_TRAIN_PLAIN")
    if not fast or hasattr(model, "save_h5") or not hasattr(model, "layers"):
        return off
    if k.backend.backend() != "tensorflow" or has_gpu():
        return off  # measured on the CPU with TensorFlow only
    from . import fftconv
    from .fftlayer import convertible

    fft = not fftconv.disabled() and any(convertible(layer) for layer in model.layers)
    direct = [layer for layer in model.layers
              if getattr(layer, "kernel", None) is not None and not (fft and convertible(layer))]
    bf16 = env_flag("AIS_LIKE_TRAIN_BF16")
    if bf16 is None:
        bf16 = bool(direct) and cpu_has_bf16()
    xla = env_flag("AIS_LIKE_TRAIN_XLA")
    if xla is None:
        xla = fft
    return {"fft": bool(fft), "bf16": bool(bf16), "jit_compile": bool(xla)}


def _float32_from(model) -> int:
    """Index of the first layer that must stay float32: the last layer with a sigmoid or softmax
    activation (the probability head), so that it and everything after it run in float32."""
    layers = model.layers
    for i in range(len(layers) - 1, -1, -1):
        act = getattr(layers[i], "activation", None)
        name = getattr(act, "__name__", str(act or ""))
        if name in ("sigmoid", "softmax"):
            return i
    return len(layers) - 1


_BF16_HEAD = None


def _bf16_head_class():
    """``Conv2D`` whose convolution runs in the layer's compute dtype (bfloat16 under
    "mixed_bfloat16") and whose activation (the sigmoid) runs in float32 on the float32 cast of
    the logits: a bfloat16 head with a float32 probability. Made on first use (imports Keras)."""
    global _BF16_HEAD
    if _BF16_HEAD is None:
        from .backend import keras

        k = keras()
        ops = k.ops

        class Bf16LogitsConv2D(k.layers.Conv2D):
            def call(self, inputs):
                z = self.convolution_op(inputs, self.kernel)
                if self.use_bias:
                    z = ops.add(z, ops.reshape(self.bias, (1,) * (self.rank + 1) + (self.filters,)))
                z = ops.cast(z, "float32")
                return z if self.activation is None else self.activation(z)

            def compute_output_spec(self, inputs):
                spec = super().compute_output_spec(inputs)
                return k.KerasTensor(spec.shape, dtype="float32")

        _BF16_HEAD = Bf16LogitsConv2D
    return _BF16_HEAD


def clone_faster(model, *, fft: bool = False, bf16: bool = False, bf16_head: bool = False):
    """An uncompiled copy of the Keras ``model`` with its weights: ``fft`` swaps large-kernel
    convolutions for :class:`ais_like.fftlayer.FFTConv2D`; ``bf16`` gives the layers before the
    probability head (see :func:`_float32_from`) Keras's "mixed_bfloat16" policy. Training
    (:func:`training_copy`) and bfloat16 inference (``ais_like.segment``) share it.
    ``bf16_head`` (with ``bf16``, for training): a ``Conv2D`` head also convolves in bfloat16, its
    sigmoid and the loss stay float32 (its float32 weight gradient over the last feature maps
    cost ~3 % of a VGGNet M training step)."""
    from .backend import keras

    k = keras()
    first = _float32_from(model)
    keep = {id(layer) for layer in model.layers[first:]}
    head = model.layers[first] if model.layers else None
    if not (bf16 and bf16_head and type(head) is k.layers.Conv2D):
        head = None
    if fft:
        from .fftlayer import FFTConv2D, convertible

    def clone(layer):
        cfg = layer.get_config()
        if fft and convertible(layer):
            return FFTConv2D.from_conv_config(cfg)
        if layer is head:
            cfg["dtype"] = "mixed_bfloat16"
            return _bf16_head_class().from_config(cfg)
        if bf16 and id(layer) not in keep and type(layer).__name__ != "InputLayer":
            cfg["dtype"] = "mixed_bfloat16"
        return layer.__class__.from_config(cfg)

    copy = k.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def training_copy(model, *, fft: bool = False, bf16: bool = False, jit_compile: bool = False):
    """A compiled copy of the Keras ``model`` that trains faster, with the model's weights, loss
    and learning rate: ``fft`` computes large-kernel convolutions (7 x 7 and up, odd, "same",
    stride 1) through the FFT (:class:`ais_like.fftlayer.FFTConv2D`, float32); ``bf16`` computes
    the other layers in bfloat16 (Keras's "mixed_bfloat16" policy: float32 variables and
    optimizer; the probability head convolves in bfloat16 too, but its sigmoid, what follows it
    and the loss stay float32);
    ``jit_compile`` compiles the training step with XLA. Train the copy, then copy its weights
    back (``model.set_weights(copy.get_weights())``): the weights are float32 in both.
    """
    from .backend import keras

    k = keras()
    copy = clone_faster(model, fft=fft, bf16=bf16, bf16_head=bf16)
    lr = learning_rate_of(model)
    copy.compile(optimizer=k.optimizers.Adam(learning_rate=lr), loss=model.loss, jit_compile=False)
    if jit_compile:
        # XLA for the training (and validation) steps only: predictions between batches (the
        # live preview, on whole slices of any size) keep the plain graph, made now
        copy.make_predict_function()
        copy.jit_compile = True
    return copy


# --------------------------------------------------------------------------------------------
# The training loop


class TrainingCallback:
    """What training reports to, and asks whether to stop (the CLI's bar, the GUI's live plot).

    Subclass and override what you need; every method is optional. :func:`train` sets
    ``callback.model`` to the model being trained before the first batch, so a callback may run
    it between batches (the workbench's live preview does).
    """

    model = None

    def on_batch(self, epoch: int, batch: int, loss: float) -> None:
        """After each batch: that batch's own loss (not a running mean)."""

    def on_epoch(self, epoch: int, logs: dict) -> None:
        """After each epoch: ``logs`` has ``loss`` (mean over the epoch's batches) and, with a
        validation split, ``val_loss``; also ``best`` (True when this epoch is the best so far)."""

    def on_restart(self, attempt: int, health) -> None:
        """Training starts again from another initialisation (``attempt`` 1, 2, ...) because
        the last model failed its check (``health``)."""

    def should_stop(self) -> bool:
        """Polled after every batch; True stops training (the best weights are kept)."""
        return False


@dataclass
class TrainResult:
    """What :func:`train` did: per-epoch ``history`` ("loss", and "val_loss" with validation),
    per-batch losses, the epoch whose weights were kept, why it ended, and the wall time."""

    history: dict = field(default_factory=dict)
    batch_losses: list = field(default_factory=list)
    best_epoch: int = -1
    best_loss: float = float("nan")
    stopped: str = "completed"  # "completed", "early_stopping" or "user"
    epochs_run: int = 0
    seconds: float = 0.0
    seconds_per_epoch: list = field(default_factory=list)
    health: Health | None = None  # of the weights kept, on the check tiles (None: not checked)


# --------------------------------------------------------------------------------------------
# Is the model learning the feature? (a network can collapse to background and stay there)

HEALTH_TILES = 64  # tiles the per-epoch check predicts (feature-rich ones first)
MIN_RECALL = 0.10  # below this the model misses the annotated feature
MAX_FALSE_POSITIVE_RATE = 0.90  # above this it marks (nearly) everything as the feature
MIN_SEPARATION = 0.05  # mean probability on the feature minus on background, below it: flat
FAILED_VERDICTS = ("all_background", "all_foreground", "flat")  # Health.verdict of a model that failed


@dataclass
class Health:
    """What a model predicts on annotated pixels, and whether that is a working model.

    ``verdict`` is "ok", "all_background" (the annotated feature is missed), "all_foreground"
    (background is marked too), "flat" (the same probability on feature and background) or
    "unknown" (no annotated feature pixel to check against). ``recall`` and
    ``false_positive_rate`` are at ``threshold``; ``separation`` is the mean probability on the
    feature minus that on background. ``where`` names the tiles it was measured on.
    """

    verdict: str
    recall: float = float("nan")
    false_positive_rate: float = float("nan")
    separation: float = float("nan")
    n_feature: int = 0
    n_background: int = 0
    threshold: float = 0.5
    where: str = "the training tiles"

    @property
    def failed(self) -> bool:
        return self.verdict in FAILED_VERDICTS

    def figures(self) -> str:
        return (f"recall of the annotated feature {self.recall:.2f}, false-positive rate {self.false_positive_rate:.2f} "
                f"on {self.where} (threshold {self.threshold:g})")

    def message(self) -> str:
        """One line: what the model does and, when it failed, what to try."""
        if self.verdict == "unknown":
            return f"not checked: no pixel of {self.where} is annotated as the feature"
        what = {"ok": "the model finds the annotated feature",
                "all_background": "the model predicts only background",
                "all_foreground": "the model marks background as the feature too",
                "flat": "the model gives feature and background the same probability"}[self.verdict]
        text = f"{what}: {self.figures()}"
        if self.failed:
            text += "; " + self.suggestion()
        return text

    def suggestion(self) -> str:
        if self.verdict == "all_foreground" and self.threshold <= 0.05:
            return f"the threshold is {self.threshold:g}, so every pixel counts: raise it (0.5 is usual)"
        if self.verdict == "all_foreground":
            return ("annotate background around the feature (negative boxes, or paint the whole slice), "
                    "or lower the positive fraction of the tiles")
        return ("train more epochs, try a lower learning rate or another architecture (UNet S), "
                "and check that the annotated slices show the feature (more slices, balanced boxes)")

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "recall": _rounded(self.recall),
                "false_positive_rate": _rounded(self.false_positive_rate), "separation": _rounded(self.separation),
                "n_feature": int(self.n_feature), "n_background": int(self.n_background),
                "threshold": float(self.threshold), "where": self.where, "message": self.message()}


def _rounded(v: float):
    return None if not np.isfinite(v) else round(float(v), 4)


def _predict_tiles(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    if hasattr(model, "save_h5"):
        return np.asarray(model.predict(x, batch_size=batch_size), dtype=np.float32)
    out = [np.asarray(model.predict_on_batch(x[i:i + batch_size]), dtype=np.float32)
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out)


def assess(model, images: np.ndarray, labels: np.ndarray, *, threshold: float = 0.5, batch_size: int = 32,
           where: str = "the training tiles") -> Health:
    """The :class:`Health` of ``model`` on tiles ``images`` (n, box, box[, 1]) with ``labels``
    (0 background, 1 feature, 2 ignored)."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    y = np.asarray(labels)
    y = y.reshape(y.shape[:3])
    p = _predict_tiles(model, x, batch_size).reshape(y.shape)
    fg, bg = y == 1, y == 0
    n_fg, n_bg = int(fg.sum()), int(bg.sum())
    if n_fg == 0:
        return Health("unknown", n_background=n_bg, threshold=threshold, where=where)
    on = p >= threshold
    recall = float(on[fg].mean())
    fpr = float(on[bg].mean()) if n_bg else 0.0
    sep = float(p[fg].mean() - (p[bg].mean() if n_bg else 0.0))
    if n_bg and fpr > MAX_FALSE_POSITIVE_RATE:
        verdict = "all_foreground"
    elif recall < MIN_RECALL:
        verdict = "all_background"
    elif n_bg and sep < MIN_SEPARATION:
        verdict = "flat"
    else:
        verdict = "ok"
    return Health(verdict, recall, fpr, sep, n_fg, n_bg, float(threshold), where)


def health_tiles(trainset, n: int = HEALTH_TILES, seed: int = 0, indices=None) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n`` tiles of ``trainset`` (from ``indices``) to check a model on: those with the
    most annotated feature pixels first, then others (so background is checked too)."""
    idx = np.arange(len(trainset)) if indices is None else np.asarray(indices)
    if len(idx) == 0:
        idx = np.arange(len(trainset))
    counts = (trainset.labels[idx] == 1).reshape(len(idx), -1).sum(axis=1)
    order = np.argsort(-counts, kind="stable")
    half = min(len(idx), max(1, n // 2))
    rest = np.random.default_rng(seed).permutation(order[half:])[:max(0, n - half)]
    chosen = np.sort(idx[np.concatenate([order[:half], rest])])
    return trainset.images[chosen], trainset.labels[chosen]


# --------------------------------------------------------------------------------------------
# Batch normalisation's running statistics, measured instead of lagging

RECALIBRATION_TILES = 128  # tiles whose batch statistics make the running ones, per epoch


def batch_norm_layers(model) -> list:
    """The batch-normalisation layers of a Keras model (or of a custom model's generator), nested
    models included."""
    from .backend import keras

    k = keras()
    net = getattr(model, "generator", model)  # a custom model (Pix2pix): its generator, as registry reads it
    found, stack = [], [net]
    while stack:
        layer = stack.pop()
        for sub in getattr(layer, "layers", []):
            if isinstance(sub, k.layers.BatchNormalization):
                found.append(sub)
            elif getattr(sub, "layers", None):
                stack.append(sub)
    return found


def recalibrate_batch_norm(model, images: np.ndarray, batch_size: int = 32) -> int:
    """Set every batch-normalisation layer's running mean and variance to the average of its
    batch statistics over ``images`` (n, box, box[, 1]); returns the number of layers set.

    Keras keeps running statistics with momentum 0.99, so after the few hundred steps a training
    from a few annotated slices takes, they still hold ~30 % of their start (mean 0, variance 1):
    the network that trained well in training mode then predicts background everywhere in
    inference mode (seen on Ais's UNet M: training loss 0.31, recall 0.00 at inference; 0.88
    after this). Measuring them ("precise BN") fixes inference without touching the weights the
    optimiser learnt, and it does not change later training steps (they use batch statistics).
    """
    layers = batch_norm_layers(model)
    if not layers or len(images) == 0:
        return 0
    net = getattr(model, "generator", model)
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    saved = [layer.momentum for layer in layers]
    try:
        for i, start in enumerate(range(0, len(x), int(batch_size))):
            for layer in layers:  # running mean of the batch statistics: new batch weighs 1 / (i + 1)
                layer.momentum = i / (i + 1.0)
            net(x[start:start + int(batch_size)], training=True)
    finally:
        for layer, m in zip(layers, saved):
            layer.momentum = m
    return len(layers)


def learning_rate_of(model) -> float:
    """The learning rate a compiled model (or custom model) trains with."""
    if hasattr(model, "save_h5"):  # ais_like.custom_model contract
        return float(model.learning_rate)
    return float(np.asarray(model.optimizer.learning_rate))


def set_learning_rate(model, learning_rate: float) -> None:
    """Set the learning rate a compiled model (or custom model) trains with."""
    if hasattr(model, "save_h5"):  # ais_like.custom_model contract
        model.learning_rate = float(learning_rate)
        return
    opt = getattr(model, "optimizer", None)
    if opt is None:
        raise InputError("the model is not compiled; build it with its architecture's create()")
    opt.learning_rate = float(learning_rate)


def _split(n: int, validation_split: float, rng) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    n_val = int(round(n * float(validation_split)))
    if validation_split > 0 and n_val == 0 and n >= 2:
        n_val = 1
    if n_val >= n:
        raise InputError(f"validation split {validation_split} leaves no tiles to train on ({n} tiles)")
    return order[n_val:], order[:n_val]


def _evaluate(model, x, y, batch_size: int) -> float:
    """The model's loss on held-out tiles (mean over tiles)."""
    if hasattr(model, "save_h5"):
        return float(model.evaluate(x, y, batch_size=batch_size))
    total, count = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        out = model.test_on_batch(xb, yb)
        total += float(np.asarray(out if np.ndim(out) == 0 else np.asarray(out).reshape(-1)[0])) * len(xb)
        count += len(xb)
    return total / max(count, 1)


def train(model, trainset, *, epochs: int = 10, batch_size: int = 32, learning_rate: float | None = None,
          validation_split: float = 0.0, early_stopping: int | None = None, callback: TrainingCallback | None = None,
          seed: int = 0, keep_best: bool = True, check: bool = True, threshold: float = 0.5) -> TrainResult:
    """Train ``model`` on ``trainset`` (an :class:`ais_like.trainset.TrainingSet`).

    Parameters
    ----------
    model : a compiled Keras model (from an architecture's ``create``) or a custom model.
    trainset : tiles (n, box, box) float32 and labels (n, box, box) uint8 (2 = ignore).
    epochs : passes over the training tiles.
    batch_size : tiles per optimisation step.
    learning_rate : set on the optimizer before training (None: keep the compiled one).
    validation_split : fraction of tiles held out (drawn by ``seed``) to measure ``val_loss``.
    early_stopping : stop when the monitored loss (``val_loss`` with validation, else the
        epoch's training loss) has not improved for this many epochs (None: never).
    callback : a :class:`TrainingCallback` (per-batch and per-epoch reports, stop requests).
    seed : shuffling and the validation split are a function of this seed.
    keep_best : restore the weights of the best epoch (by the monitored loss) at the end.
    check : after every epoch, predict up to ``HEALTH_TILES`` tiles (held-out ones with
        validation, else training tiles, feature-rich first) and report the :class:`Health`
        ("recall", "false_positive_rate", "verdict" in the epoch's logs); the kept weights'
        health is ``result.health``.
    threshold : the probability the check counts as the feature.

    A network with batch normalisation has its running statistics measured on up to
    ``RECALIBRATION_TILES`` training tiles after every epoch (:func:`recalibrate_batch_norm`),
    so that validation, the check and the saved model see what training learnt.

    Returns
    -------
    TrainResult
    """
    import time

    epochs = int(epochs)
    batch_size = int(batch_size)
    if epochs < 1:
        raise InputError(f"epochs must be at least 1, got {epochs}")
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")
    if not 0.0 <= float(validation_split) < 1.0:
        raise InputError(f"validation split must be in [0, 1), got {validation_split}")
    if len(trainset) == 0:
        raise InputError("the training set has no tiles")
    if learning_rate is not None:
        if not (float(learning_rate) > 0):
            raise InputError(f"learning rate must be positive, got {learning_rate}")
        set_learning_rate(model, learning_rate)
    callback = callback or TrainingCallback()
    callback.model = model
    rng = np.random.default_rng(seed)
    x_all = trainset.images[..., None].astype(np.float32, copy=False)
    y_all = trainset.labels[..., None].astype(np.float32)
    train_idx, val_idx = _split(len(trainset), validation_split, rng)
    x_val, y_val = x_all[val_idx], y_all[val_idx]
    monitor = "val_loss" if len(val_idx) else "loss"
    result = TrainResult(history={"loss": []} | ({"val_loss": []} if len(val_idx) else {}))
    best_weights = None
    since_best = 0
    where = "the held-out tiles" if len(val_idx) else "the training tiles"
    hx, hy = health_tiles(trainset, seed=seed, indices=val_idx if len(val_idx) else train_idx) if check else (None, None)
    health = None
    recalibrate = bool(batch_norm_layers(model))
    recal_idx = (np.sort(np.random.default_rng(seed + 1).permutation(train_idx)[:RECALIBRATION_TILES])
                 if recalibrate else None)
    t0 = time.perf_counter()
    n_batches = int(np.ceil(len(train_idx) / batch_size))
    for epoch in range(epochs):
        te = time.perf_counter()
        order = train_idx[rng.permutation(len(train_idx))]
        losses = []
        stop_now = False
        for b in range(n_batches):
            idx = np.sort(order[b * batch_size:(b + 1) * batch_size])
            out = model.train_on_batch(x_all[idx], y_all[idx])
            loss = float(np.asarray(out).reshape(-1)[0])
            if not np.isfinite(loss):
                raise InputError(f"training diverged at epoch {epoch + 1}, batch {b + 1} (loss {loss}); "
                                 "lower the learning rate")
            losses.append(loss)
            result.batch_losses.append(loss)
            callback.on_batch(epoch, b, loss)
            if callback.should_stop():
                stop_now = True
                break
        if not losses:
            break
        if recalibrate:
            recalibrate_batch_norm(model, x_all[recal_idx], batch_size)
        logs = {"loss": float(np.mean(losses))}
        if len(val_idx):
            logs["val_loss"] = _evaluate(model, x_val, y_val, batch_size)
        for k, v in logs.items():
            result.history[k].append(v)
        if check:
            health = assess(model, hx, hy, threshold=threshold, batch_size=batch_size, where=where)
            logs.update(recall=health.recall, false_positive_rate=health.false_positive_rate,
                        verdict=health.verdict)
            if np.isfinite(health.recall):
                result.history.setdefault("recall", []).append(health.recall)
        result.epochs_run = epoch + 1
        result.seconds_per_epoch.append(time.perf_counter() - te)
        current = logs[monitor]
        improved = not (result.best_loss <= current)  # also True while best_loss is nan
        if improved and not stop_now:
            result.best_epoch, result.best_loss = epoch, current
            since_best = 0
            if keep_best and epoch < epochs - 1:
                best_weights = [np.array(w) for w in model.get_weights()]
            elif keep_best:
                best_weights = None  # the final weights are the best ones
        else:
            since_best += 1
        logs["best"] = bool(improved and not stop_now)
        callback.on_epoch(epoch, logs)
        if stop_now or callback.should_stop():
            result.stopped = "user"
            break
        if early_stopping is not None and since_best >= int(early_stopping):
            result.stopped = "early_stopping"
            break
    if keep_best and best_weights is not None and result.best_epoch != result.epochs_run - 1:
        model.set_weights(best_weights)
        if check:
            health = assess(model, hx, hy, threshold=threshold, batch_size=batch_size, where=where)
    result.health = health
    result.seconds = time.perf_counter() - t0
    return result


# --------------------------------------------------------------------------------------------
# One call from a training set to a model ready to save as .scnm


@dataclass
class TrainedModel:
    """A trained model, the ``.scnm`` metadata that describes it, and how training went."""

    model: object
    metadata: dict
    result: TrainResult

    @property
    def health(self) -> Health | None:
        return self.result.health

    @property
    def failed(self) -> bool:
        """True when the check found a model that does not find the feature (see :class:`Health`)."""
        return self.result.health is not None and self.result.health.failed


RESTART_SEED_STEP = 1000  # a restart's initialisation seed: seed + 1000 x attempt


def _attempt_rank(result: TrainResult) -> tuple:
    h = result.health
    if h is None:
        return (1, 0.0, 0.0)
    return (0 if h.failed else 1, _finite(h.separation), _finite(h.recall))


def _finite(v: float) -> float:
    return float(v) if np.isfinite(v) else -1.0


def train_feature_model(trainset, architecture: str = "VGGNet S", *, title: str | None = None,
                        colour=None, epochs: int = 10, batch_size: int = 32, learning_rate: float | None = None,
                        validation_split: float = 0.0, early_stopping: int | None = None, loss: str | None = None,
                        threshold: float = 0.5, callback: TrainingCallback | None = None, seed: int = 0,
                        folders=None, fast: bool | None = None, restarts: int = 1) -> TrainedModel:
    """Build ``architecture`` for the training set's box, train it and describe it.

    The CLI (``ais-like train``), the demo and the GUI's training worker all call this, so a
    model does not depend on the front end that trained it.

    Parameters
    ----------
    trainset : ais_like.trainset.TrainingSet
    architecture : an architecture title from :func:`ais_like.registry.list_architectures`.
    title : the model's title (the feature it segments; names its output files); default: the
        training set's feature.
    colour : (r, g, b) in 0..1 for display.
    loss : "bce", "dice" or "bce_dice" (recompiles the model; None keeps the plugin's loss).
    threshold : the default display/picking threshold stored with the model.
    fast : train a faster copy of the model (FFT convolutions, XLA, bfloat16 where the CPU has
        it; see :func:`training_speedups`) and copy its weights back; None: the defaults, False:
        train the model itself in float32. The model returned is always the float32 one; the
        callback's ``model`` is the copy while training runs.
    restarts : when the trained model fails its check (:class:`Health`: only background,
        everything, or flat), train again from another initialisation (seed + 1000 per restart)
        up to this many times, and keep the best attempt (a working one first, then by recall
        and separation). A callback's ``on_restart(attempt, health)`` is told. Not after a stop.
    Other parameters: see :func:`train`. ``seed`` also seeds the weight initialisation.

    Returns
    -------
    TrainedModel
    """
    from . import registry
    from .archive import make_metadata
    from .backend import keras

    arch = registry.get_architecture(architecture, folders=folders)
    k = keras()
    k.utils.set_random_seed(int(seed))
    if int(restarts) != restarts or restarts < 0:
        raise InputError(f"restarts must be a whole number >= 0, got {restarts}")
    attempts, total_seconds = [], 0.0
    for attempt in range(int(restarts) + 1):
        if attempt:
            k.utils.set_random_seed(int(seed) + RESTART_SEED_STEP * attempt)
            if callback is not None:
                getattr(callback, "on_restart", lambda *a: None)(attempt, attempts[-1][1].health)
        model = arch.create((None, None, 1))  # fully convolutional: whole slices at inference
        if loss is not None and not hasattr(model, "save_h5"):  # recompiled: keep the plugin's rate
            compile_for_training(model, arch.learning_rate if learning_rate is None else learning_rate, loss)
        speedups = training_speedups(model, fast)
        trainee = training_copy(model, **speedups) if any(speedups.values()) else model
        result = train(trainee, trainset, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                       validation_split=validation_split, early_stopping=early_stopping, callback=callback,
                       seed=seed, threshold=threshold)
        if trainee is not model:
            model.set_weights(trainee.get_weights())
            set_learning_rate(model, learning_rate_of(trainee))
            if callback is not None:
                callback.model = model
        total_seconds += result.seconds
        attempts.append((model, result))
        if result.health is None or not result.health.failed or result.stopped == "user":
            break
    best = max(range(len(attempts)), key=lambda i: _attempt_rank(attempts[i][1]))
    model, result = attempts[best]
    if callback is not None:
        callback.model = model
    lr = learning_rate_of(model)
    monitor = "val_loss" if "val_loss" in result.history else "loss"
    final = result.history[monitor][result.best_epoch] if result.best_epoch >= 0 else float("nan")
    pre = dict(trainset.meta.get("preprocess") or {"normalisation": trainset.normalisation, "clamp": 4.0})
    feature = title or trainset.feature
    meta = make_metadata(
        feature, arch.title, apix=float(trainset.apix) if trainset.apix else -1.0, box_size=trainset.box,
        epochs=result.epochs_run, batch_size=int(batch_size), loss=float(final), threshold=float(threshold),
        n_parameters=int(model.count_params()),
        **({"colour": [float(c) for c in colour]} if colour is not None else {}),
        ais_like={
            "divisor": arch.divisor,
            "preprocess": pre,
            "trainset": trainset.summary(),
            "training": {"learning_rate": lr, "validation_split": float(validation_split),
                         "early_stopping": early_stopping, "loss": loss or DEFAULT_LOSS, "seed": int(seed),
                         "best_epoch": result.best_epoch, "stopped": result.stopped,
                         "speedups": [name for name, on in speedups.items() if on],
                         "history": {k_: [round(float(v), 6) for v in vals] for k_, vals in result.history.items()},
                         "health": result.health.as_dict() if result.health is not None else None,
                         "restarts": len(attempts) - 1,
                         "initialisation_seed": int(seed) + RESTART_SEED_STEP * best,
                         "seconds": round(total_seconds, 2)},
        },
    )
    return TrainedModel(model=model, metadata=meta, result=result)
