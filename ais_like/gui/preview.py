"""The live preview: every active model's prediction of the shown slice, with interactions.

:class:`Preview` asks the model worker (``state.worker``, :mod:`ais_like.gui.worker`) for a
prediction of the current slice for each active model whose result is neither cached nor on
its way, keeps the results in a small LRU cache keyed by (model key, model version, dataset,
slice, crop), and hands the slice renderer one :class:`Layer` per shown model. Requests never
block the frame: the slice goes to the worker through a queue and the answer is collected by
:meth:`Preview.update` on a later frame. Only the newest request per model counts: when the
slice (or the model) changes before an answer came, the new request replaces the old one (the
worker drops older queued requests of the same model, and late answers are ignored here).
During training a request for the same slice is not replaced by one for a newer batch: the
answer is used, then the newest batch's prediction is asked for (otherwise every answer would
be stale on arrival).

Thresholds, colours and alpha are applied by the shader, so changing them needs no new
prediction. Model interactions (competition, colocalize, avoid) are applied to the cached
raw predictions with :func:`ais_like.interactions.apply_interactions` (the function the CLI
and batch runs use), off the frame in a job, and cached by their inputs.

While a model trains, its entry's version key is ``(version, live)`` with ``live`` the number
of batches trained when the preview last asked, so intermediate predictions refresh.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

PREDICTABLE = ("trained", "loaded")
CROP_ABOVE = 1024  # slices larger than this (either side) are predicted in their visible part
CROP_GRID = 256  # crops snap to this grid (px) so small pans do not ask again


@dataclass
class Layer:
    """One model's prediction of the shown slice, as the slice renderer draws it."""

    key: str
    version: tuple  # changes whenever ``probability`` does (texture upload key)
    probability: np.ndarray  # uint8 (y, x), 255 = 1
    colour: tuple
    alpha: float
    threshold: float
    title: str = ""
    exact: bool = True  # False: an older result shown until the current one arrives
    flat: bool = False


def version_key(entry) -> tuple:
    return (int(entry.version), int(entry.live))


def can_predict(entry) -> bool:
    """Whether the worker holds weights for this entry now."""
    return entry.status in PREDICTABLE or (entry.status == "training" and entry.live > 0)


def interaction_set(state, titles=None):
    """The session's interactions as an :class:`ais_like.interactions.InteractionSet`: emit/absorb
    flags of active models, and the listed interactions whose two models are among ``titles``
    (all active models' titles when None); see :func:`ais_like.gui.modelling.session_interactions`."""
    from .modelling import session_interactions

    active = [e for e in state.models.entries if e.active]
    avail = set(titles) if titles is not None else {e.title for e in active}
    chosen = [e for e in active if e.title in avail]
    return session_interactions(state, chosen, [e.title for e in chosen])[0]


class Preview:
    def __init__(self, max_bytes: int = 512 * 2 ** 20):
        self.cache: OrderedDict = OrderedDict()  # ckey -> uint8 (y, x) of the whole slice
        self.max_bytes = int(max_bytes)
        self.in_flight: dict = {}  # model key -> (request_id, ckey, slice shape, time sent)
        self.failed: dict = {}  # ckey -> message (not asked again)
        self.stats: dict = {}  # (dataset, lowpass, highpass) -> (median, sigma); None while computing
        self.sent = 0  # predict requests sent
        self.received = 0  # answers used
        self.dropped = 0  # late answers to replaced requests, ignored
        self.latency: list = []  # seconds from request to answer (recent)
        self._next_request = 0
        self._inter_key = None
        self._inter_result: dict = {}
        self._inter_serial = 0
        self._inter_pending = None

    def busy(self) -> bool:
        """Whether answers are awaited (the frame loop keeps drawing until they are shown)."""
        return bool(self.in_flight) or self._inter_pending is not None

    # -- keys -------------------------------------------------------------------------------

    def crop(self, state):
        """The part of the slice to predict: None (all) for slices up to CROP_ABOVE px, else the
        visible part plus a margin, snapped to CROP_GRID (y0, y1, x0, x1)."""
        shape = state.shape
        if shape is None or max(shape[1:]) <= CROP_ABOVE:
            return None
        ny, nx = shape[1:]
        r = state.canvas_rect
        x0, y0 = state.view.to_image(r, r[0], r[1])
        x1, y1 = state.view.to_image(r, r[0] + r[2], r[1] + r[3])
        g = CROP_GRID
        y0 = max(0, int(np.floor(y0 / g)) * g - g)
        x0 = max(0, int(np.floor(x0 / g)) * g - g)
        y1 = min(ny, int(np.ceil(y1 / g)) * g + g)
        x1 = min(nx, int(np.ceil(x1 / g)) * g + g)
        if y1 <= y0 or x1 <= x0:
            return None
        if (y0, x0, y1, x1) == (0, 0, ny, nx):
            return None
        return (y0, y1, x0, x1)

    def cache_key(self, state, entry, crop="auto") -> tuple:
        crop = self.crop(state) if crop == "auto" else crop
        return (entry.key, version_key(entry), state.current, int(state.z), crop)

    def wanted(self, state) -> list:
        """(entry, cache key) of every model whose prediction the shown slice needs."""
        if state.dataset is None or state.tab == "Render":
            return []
        titles = set()
        for d in state.models.interactions:
            titles |= {d.get("parent"), d.get("partner")}
        crop = self.crop(state)
        out = []
        for e in state.models.entries:
            if e.active and can_predict(e) and (e.show or e.title in titles or e.emit or e.absorb):
                out.append((e, self.cache_key(state, e, crop)))
        return out

    # -- each frame -------------------------------------------------------------------------

    def update(self, state) -> None:
        """Collect the worker's answers, then ask for what the shown slice still lacks."""
        from .modelling import pump

        pump(state)
        self.request(state)

    def request(self, state) -> int:
        n = 0
        for entry, ckey in self.wanted(state):
            if ckey in self.cache or ckey in self.failed:
                continue
            fl = self.in_flight.get(entry.key)
            if fl is not None and (fl[1] == ckey or (fl[1][2:] == ckey[2:] and fl[1][1][0] == ckey[1][0])):
                continue  # asked already; or an intermediate (training) version of this slice is on its way
            ready, stats = self.stats_for(state, entry)
            if not ready:
                continue
            raw = state.raw_slice()
            crop = ckey[4]
            image = raw if crop is None else raw[crop[0]:crop[1], crop[2]:crop[3]]
            self._next_request += 1
            rid = self._next_request
            from .modelling import worker

            worker(state).send("predict", key=entry.key, version=ckey[1], request_id=rid,
                               image=np.array(image, np.float32, copy=True), apix=state.apix,
                               stats=None if stats is None else tuple(stats))
            self.in_flight[entry.key] = (rid, ckey, raw.shape, time.perf_counter())
            self.sent += 1
            n += 1
        return n

    def stats_for(self, state, entry):
        """(ready, stats): the volume statistics a globally normalised model needs (computed once
        per dataset in a job); (True, None) for per-slice normalisation."""
        from ..archive import preprocess_settings

        s = preprocess_settings(entry.metadata or {})
        if s["normalisation"] != "global":
            return True, None
        k = (state.current, s["lowpass"], s["highpass"])
        if k in self.stats:
            v = self.stats[k]
            return v is not None, v
        self.stats[k] = None
        ds = state.project.dataset(state.current)
        lowpass, highpass = s["lowpass"], s["highpass"]

        def work(job):
            from ..preprocess import volume_stats

            with ds.open() as vol:
                return volume_stats(vol, apix=vol.apix, lowpass=lowpass, highpass=highpass)

        def done(result):
            self.stats[k] = (float(result[0]), float(result[1]))

        def failed(exc, tb=""):
            self.stats.pop(k, None)
            state.error(f"{ds.name}: cannot measure the volume statistics: {exc}", tb)

        state.jobs.submit(f"volume statistics of {ds.name}", work, kind="preview", on_done=done, on_error=failed)
        v = self.stats.get(k)
        return v is not None, v

    def receive(self, state, msg: dict) -> bool:
        """A worker answer to a predict request (``prediction`` or ``error``); True when used."""
        key = msg.get("key")
        fl = self.in_flight.get(key)
        if fl is None or fl[0] != msg.get("request_id"):
            self.dropped += 1
            return False
        del self.in_flight[key]
        rid, ckey, shape, t0 = fl
        if msg.get("event") == "error":
            self.failed[ckey] = msg.get("message", "failed")
            entry = state.model(key)
            title = entry.title if entry is not None else key
            state.error(f"{title}: prediction failed: {msg.get('message', '')}", msg.get("details", ""))
            return True
        p = np.asarray(msg["probability"], np.uint8)
        crop = ckey[4]
        if crop is not None:
            full = np.zeros(shape, np.uint8)
            full[crop[0]:crop[1], crop[2]:crop[3]] = p
            p = full
        self.store(ckey, p)
        self.received += 1
        self.latency.append(time.perf_counter() - t0)
        del self.latency[:-100]
        return True

    def store(self, ckey, p: np.ndarray) -> None:
        # one result per (model, dataset, slice, crop): a newer version replaces the older
        for k in [k for k in self.cache if k[0] == ckey[0] and k[2:] == ckey[2:] and k[1] != ckey[1]]:
            del self.cache[k]
        self.cache[ckey] = p
        self.cache.move_to_end(ckey)
        total = sum(a.nbytes for a in self.cache.values())
        while total > self.max_bytes and len(self.cache) > 1:
            _, old = self.cache.popitem(last=False)
            total -= old.nbytes

    def forget(self, key: str) -> None:
        """Drop everything about one model (removed)."""
        for k in [k for k in self.cache if k[0] == key]:
            del self.cache[k]
        for k in [k for k in self.failed if k[0] == key]:
            del self.failed[k]
        self.in_flight.pop(key, None)

    def reset_in_flight(self) -> None:
        """The worker died: nothing it was asked will be answered."""
        self.in_flight.clear()

    # -- what is drawn ----------------------------------------------------------------------

    def raw(self, state, entry):
        """(ckey, uint8 array, exact) of the best available prediction of the shown slice for
        ``entry``: the current one, else the newest cached one of the same slice (an older
        version, or another crop), else (None, None, False)."""
        ckey = self.cache_key(state, entry)
        a = self.cache.get(ckey)
        if a is not None:
            return ckey, a, True
        best = None
        for k in reversed(self.cache):
            if k[0] == entry.key and k[2] == state.current and k[3] == int(state.z):
                best = k
                break
        if best is None:
            return None, None, False
        return best, self.cache[best], False

    def layers(self, state) -> list[Layer]:
        """One :class:`Layer` per active, shown model that has a prediction of the shown slice."""
        if state.dataset is None:
            return []
        raws = {}
        for e in state.models.entries:
            if e.active:
                ckey, a, exact = self.raw(state, e)
                if a is not None:
                    raws[e.key] = (ckey, a, exact)
        results = self.interacted(state, raws)
        out = []
        for e in state.models.entries:
            if not (e.active and e.show) or e.key not in raws:
                continue
            ckey, a, exact = raws[e.key]
            version = ckey
            if e.key in results:
                a, serial = results[e.key]
                if a is None:
                    continue
                version = (ckey, "interactions", serial)
            out.append(Layer(e.key, version, a, tuple(e.colour), float(e.alpha), float(e.threshold),
                             title=e.title, exact=exact))
        return out

    def interacted(self, state, raws: dict) -> dict:
        """key -> (array after interactions or None while computing, serial) for the models the
        interactions change; {} when none apply."""
        from ..errors import AisLikeError

        by_title = {}
        for e in state.models.entries:
            if e.key in raws and e.title not in by_title:
                by_title[e.title] = e
        try:
            spec = interaction_set(state, set(by_title))
        except AisLikeError as exc:
            self._note(state, f"interactions: {exc}")
            return {}
        if spec.empty:
            return {}
        involved = sorted(spec.titles() & set(by_title))
        changed = spec.changed_titles() & set(by_title)
        apix = state.apix
        if spec.interactions and not apix:
            self._note(state, "interactions need the tomogram's voxel size (set it in the Datasets tab)")
            return {}
        key = (spec, tuple((t, raws[by_title[t].key][0]) for t in involved), apix)
        if key != self._inter_key and key != self._inter_pending:
            self._inter_pending = key
            preds = {t: raws[by_title[t].key][1] for t in involved}

            def work(job):
                from ..interactions import apply_interactions

                return apply_interactions(preds, spec, apix)

            def done(result, key=key):
                if self._inter_pending == key:
                    self._inter_pending = None
                self._inter_key = key
                self._inter_serial += 1
                self._inter_result = result

            def failed(exc, tb="", key=key):
                if self._inter_pending == key:
                    self._inter_pending = None
                self._inter_key = key
                self._inter_result = {}
                self._note(state, f"interactions: {exc}")

            state.jobs.submit("interactions", work, kind="preview", on_done=done, on_error=failed)
        # the newest result of these inputs, or the previous one of this slice while computing
        prev = self._inter_key
        same_slice = prev is not None and all(ck[2] == state.current and ck[3] == int(state.z) for _, ck in prev[1])
        out = {}
        for t in changed:
            a = self._inter_result.get(t) if same_slice else None
            out[by_title[t].key] = (a, self._inter_serial)
        return out

    def _note(self, state, text: str) -> None:
        """One notification per distinct problem (layers() runs every frame)."""
        if getattr(self, "_last_note", None) != text:
            self._last_note = text
            state.notify(text, "warning")
