"""Draws the slice canvas: the tomogram slice (contrast in the shader), the painted annotations
and each shown model's prediction (threshold, colour and alpha in the shader).

The renderer only draws what :class:`ais_like.gui.state.AppState` says; textures are uploaded
when their content key changes (dataset, slice, filter, annotation revision, model version),
never every frame.
"""

from __future__ import annotations

import numpy as np
from OpenGL import GL

from .gl import LayerStack, Program, RenderTarget, Texture2D, UnitQuad


class SliceRenderer:
    def __init__(self):
        from ais_like.gui.overlays import OverlayCache

        self.quad = UnitQuad()
        self._composite: dict[int, Program] = {}
        self.overlay_prog = Program("quad.vert", "overlay.frag")
        self.pred_prog = Program("quad.vert", "prediction.frag")
        self.slice_tex = Texture2D(nearest=False)
        self.overlay_tex = Texture2D(nearest=True)
        self.overlay_cache = OverlayCache()  # recomposes only what painting changed
        self.pred_tex: dict[str, Texture2D] = {}
        self.stack = LayerStack(8)
        self.uploads = 0
        self.redraws = 0  # frames whose canvas was drawn, not copied (tests check idle frames copy)
        self.overlay_serial = 0
        self.canvas_key = None
        self.target = RenderTarget()  # texture uploads so far (tests check that idle frames upload nothing)

    def composite(self, n: int) -> Program:
        """The one-pass slice + ``n`` predictions program (compiled on first use)."""
        if n not in self._composite:
            self._composite[n] = Program("quad.vert", "composite.frag", {"N_LAYERS": n})
        return self._composite[n]

    def _transform(self, prog, state, fb_size, shape_yx):
        W, H = fb_size
        ny, nx = shape_yx
        x0, y0 = state.view.to_screen(state.canvas_rect, 0.0, 0.0)
        z = state.view.zoom
        prog.set("u_size", (float(nx), float(ny)))
        prog.set("u_scale", (2.0 * z / W, -2.0 * z / H))
        prog.set("u_offset", (2.0 * x0 / W - 1.0, 1.0 - 2.0 * y0 / H))

    def draw(self, state, fb_size) -> None:
        """Draw the canvas. Textures are updated first; when nothing that the canvas shows
        changed since the last frame (only the sidebar, a progress bar or the brush cursor did),
        the previous picture is copied from an offscreen framebuffer instead of redrawn: on
        software renderers that is most of a frame's cost."""
        W, H = fb_size
        if state.dataset is None:
            self._clear(state, fb_size)
            self.canvas_key = None
            return
        shape, stacked, others, akey = self._update_textures(state)
        d = state.display
        key = (tuple(fb_size), tuple(state.canvas_rect), state.view.zoom, tuple(state.view.centre), self.slice_tex.key,
               tuple(d.contrast), bool(d.invert), akey, self.overlay_serial,
               tuple((lay.key, lay.version, tuple(lay.colour), lay.alpha, lay.threshold, bool(getattr(lay, "flat", False)))
                     for lay in stacked + others))
        if key != self.canvas_key or not self.target.matches(W, H):
            self.target.ensure(W, H)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.target.fbo)
            self._clear(state, fb_size)
            self._draw_layers(state, fb_size, shape, stacked, others)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
            self.canvas_key = key
            self.redraws += 1
        self.target.blit(state.canvas_rect, W, H)

    def _clear(self, state, fb_size) -> None:
        W, H = fb_size
        rx, ry, rw, rh = state.canvas_rect
        GL.glEnable(GL.GL_SCISSOR_TEST)
        GL.glScissor(int(rx), int(H - ry - rh), max(1, int(rw)), max(1, int(rh)))
        GL.glClearColor(0.08, 0.08, 0.09, 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT)
        GL.glDisable(GL.GL_SCISSOR_TEST)

    def _update_textures(self, state):
        from ais_like.gui.actions import display_key, display_slice

        key = display_key(state)
        if self.slice_tex.key != key:
            self.slice_tex.upload(np.asarray(display_slice(state), np.float32), key)
            self.uploads += 1
        shape = self.slice_tex.shape
        # model predictions of the slice's size go into one texture array and are blended in the
        # same pass as the slice (one full-canvas pass, whatever the number of models)
        layers = state.preview.layers(state) if state.preview is not None else []
        stacked = [lay for lay in layers if tuple(lay.probability.shape) == tuple(shape)][:self.stack.capacity]
        others = [lay for lay in layers if lay not in stacked]
        for i, lay in enumerate(stacked):
            if self.stack.set_layer(i, lay.probability, (lay.key, lay.version)):
                self.uploads += 1
        live = set()
        for layer in others:  # predictions of another size (a cropped preview)
            tex = self.pred_tex.get(layer.key)
            if tex is None:
                tex = self.pred_tex[layer.key] = Texture2D(nearest=False)
            if tex.key != layer.version:
                tex.upload(np.asarray(layer.probability, np.uint8), layer.version)
                self.uploads += 1
            live.add(layer.key)
        for k in list(self.pred_tex):
            if k not in live:
                self.pred_tex.pop(k).delete()
        # painted annotations
        ann = state.dataset.annotations
        akey = (state.current, state.z, ann.revision,
                tuple((f.name, f.visible, f.outline, f.alpha, f.colour) for f in ann.features.values()))
        if self.overlay_tex.key != akey:
            rgba, region = self.overlay_cache.get(ann, state.z)
            self.overlay_tex.upload(rgba, akey, region=region)
            self.uploads += 1
            self.overlay_serial += 1
        return shape, stacked, others, akey

    def _draw_layers(self, state, fb_size, shape, stacked, others) -> None:
        W, H = fb_size
        rx, ry, rw, rh = state.canvas_rect
        d = state.display
        GL.glEnable(GL.GL_SCISSOR_TEST)
        GL.glScissor(int(rx), int(H - ry - rh), max(1, int(rw)), max(1, int(rh)))
        GL.glViewport(0, 0, W, H)
        p = self.composite(len(stacked)).use()
        self._transform(p, state, fb_size, shape)
        p.set("u_image", 0)
        p.set("u_probs", 1)
        p.set("u_lo", float(d.contrast[0]))
        p.set("u_hi", float(d.contrast[1]))
        p.set("u_invert", int(d.invert))
        for i, lay in enumerate(stacked):
            p.set(f"u_colour[{i}]", tuple(float(c) for c in lay.colour))
            p.set(f"u_alpha[{i}]", float(lay.alpha))
            p.set(f"u_threshold[{i}]", float(lay.threshold))
            p.set(f"u_flat[{i}]", int(bool(getattr(lay, "flat", False))))
        self.slice_tex.bind(0)
        self.stack.bind(1)
        self.quad.draw()
        GL.glActiveTexture(GL.GL_TEXTURE0)

        GL.glEnable(GL.GL_BLEND)
        GL.glBlendFunc(GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA)
        for layer in others:  # one pass each
            p = self.pred_prog.use()
            self._transform(p, state, fb_size, layer.probability.shape)
            p.set("u_prob", 0)
            p.set("u_colour", tuple(layer.colour))
            p.set("u_alpha", float(layer.alpha))
            p.set("u_threshold", float(layer.threshold))
            p.set("u_flat", int(getattr(layer, "flat", False)))
            self.pred_tex[layer.key].bind(0)
            self.quad.draw()
        p = self.overlay_prog.use()
        self._transform(p, state, fb_size, shape)
        p.set("u_overlay", 0)
        self.overlay_tex.bind(0)
        self.quad.draw()
        GL.glDisable(GL.GL_BLEND)
        GL.glDisable(GL.GL_SCISSOR_TEST)
        GL.glUseProgram(0)
