"""Small OpenGL 3.3 core helpers: shader programs from ``shaders/``, 2D textures, a unit quad.

Everything here needs a current GL context; nothing here knows about the application state.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
from OpenGL import GL


def shader_source(name: str) -> str:
    """The text of a GLSL file shipped in ``ais_like.shaders``."""
    return resources.files("ais_like.shaders").joinpath(name).read_text(encoding="utf-8")


def with_defines(source: str, defines: dict | None) -> str:
    """Insert ``#define NAME VALUE`` lines right after the ``#version`` line."""
    if not defines:
        return source
    first, _, rest = source.partition("\n")
    return first + "\n" + "".join(f"#define {k} {v}\n" for k, v in defines.items()) + rest


def _compile(kind, source: str, name: str):
    sh = GL.glCreateShader(kind)
    GL.glShaderSource(sh, source)
    GL.glCompileShader(sh)
    if not GL.glGetShaderiv(sh, GL.GL_COMPILE_STATUS):
        log = GL.glGetShaderInfoLog(sh)
        raise RuntimeError(f"shader {name}: {log.decode(errors='replace') if isinstance(log, bytes) else log}")
    return sh


class Program:
    """A linked vertex + fragment program; ``set(name, value)`` sets uniforms by type."""

    def __init__(self, vert: str, frag: str, defines: dict | None = None):
        vs = _compile(GL.GL_VERTEX_SHADER, shader_source(vert), vert)
        fs = _compile(GL.GL_FRAGMENT_SHADER, with_defines(shader_source(frag), defines), frag)
        self.id = GL.glCreateProgram()
        GL.glAttachShader(self.id, vs)
        GL.glAttachShader(self.id, fs)
        GL.glLinkProgram(self.id)
        if not GL.glGetProgramiv(self.id, GL.GL_LINK_STATUS):
            raise RuntimeError(f"program {vert}+{frag}: {GL.glGetProgramInfoLog(self.id)}")
        GL.glDeleteShader(vs)
        GL.glDeleteShader(fs)
        self._loc: dict[str, int] = {}

    def use(self) -> "Program":
        GL.glUseProgram(self.id)
        return self

    def loc(self, name: str) -> int:
        if name not in self._loc:
            self._loc[name] = GL.glGetUniformLocation(self.id, name)
        return self._loc[name]

    def set(self, name: str, value) -> None:
        loc = self.loc(name)
        if loc < 0:
            return
        if isinstance(value, (bool, int, np.integer)) and not isinstance(value, float):
            GL.glUniform1i(loc, int(value))
        elif np.ndim(value) == 0:
            GL.glUniform1f(loc, float(value))
        else:
            v = np.asarray(value, np.float32).ravel()
            if v.size == 16:
                GL.glUniformMatrix4fv(loc, 1, GL.GL_FALSE, v)
            elif v.size == 9:
                GL.glUniformMatrix3fv(loc, 1, GL.GL_FALSE, v)
            else:
                {2: GL.glUniform2f, 3: GL.glUniform3f, 4: GL.glUniform4f}[v.size](loc, *map(float, v))

    def delete(self) -> None:
        GL.glDeleteProgram(self.id)


_FORMATS = {  # (channels, dtype) -> (internal format, format, type)
    (1, np.float32): (GL.GL_R32F, GL.GL_RED, GL.GL_FLOAT),
    (1, np.uint8): (GL.GL_R8, GL.GL_RED, GL.GL_UNSIGNED_BYTE),
    (4, np.uint8): (GL.GL_RGBA8, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE),
}


class Texture2D:
    """A 2D texture holding a (y, x[, c]) array; row 0 of the array is v = 0 of the quad."""

    def __init__(self, nearest: bool = True):
        self.id = GL.glGenTextures(1)
        self.shape: tuple | None = None
        self.key = None  # what the caller last uploaded (to skip identical uploads)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.id)
        f = GL.GL_NEAREST if nearest else GL.GL_LINEAR
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, f)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, f)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)

    def upload(self, array: np.ndarray, key=None, region=None) -> None:
        """Upload the whole array, or only ``region`` = (y0, y1, x0, x1) of it when the texture
        already has this shape (painting updates only the stroke's box)."""
        a = np.asarray(array)
        channels = 1 if a.ndim == 2 else a.shape[2]
        internal, fmt, typ = _FORMATS[(channels, a.dtype.type)]
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.id)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        if region is not None and self.shape == a.shape:
            y0, y1, x0, x1 = region
            sub = np.ascontiguousarray(a[y0:y1, x0:x1])
            if sub.size:
                GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, x0, y0, x1 - x0, y1 - y0, fmt, typ, sub)
        else:
            a = np.ascontiguousarray(a)
            GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, internal, a.shape[1], a.shape[0], 0, fmt, typ, a)
            self.shape = a.shape
        self.key = key

    def bind(self, unit: int = 0) -> None:
        GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.id)

    def delete(self) -> None:
        GL.glDeleteTextures([self.id])


class LayerStack:
    """A GL_TEXTURE_2D_ARRAY of R8 layers of one (y, x) size: the models' predictions of the
    shown slice, sampled in one shader pass. Each layer is re-uploaded only when its key changes."""

    def __init__(self, capacity: int = 8):
        self.capacity = int(capacity)
        self.id = GL.glGenTextures(1)
        self.shape: tuple | None = None
        self.keys: list = [None] * self.capacity
        GL.glBindTexture(GL.GL_TEXTURE_2D_ARRAY, self.id)
        for pname, v in ((GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR), (GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR),
                         (GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE), (GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)):
            GL.glTexParameteri(GL.GL_TEXTURE_2D_ARRAY, pname, v)

    def set_layer(self, i: int, array: np.ndarray, key) -> bool:
        """Put a uint8 (y, x) array in layer ``i`` unless it already holds ``key``. Returns
        whether it uploaded."""
        a = np.ascontiguousarray(array, np.uint8)
        GL.glBindTexture(GL.GL_TEXTURE_2D_ARRAY, self.id)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        if self.shape != a.shape:
            GL.glTexImage3D(GL.GL_TEXTURE_2D_ARRAY, 0, GL.GL_R8, a.shape[1], a.shape[0], self.capacity, 0,
                            GL.GL_RED, GL.GL_UNSIGNED_BYTE, None)
            self.shape = a.shape
            self.keys = [None] * self.capacity
        if self.keys[i] == key:
            return False
        GL.glTexSubImage3D(GL.GL_TEXTURE_2D_ARRAY, 0, 0, 0, i, a.shape[1], a.shape[0], 1, GL.GL_RED,
                           GL.GL_UNSIGNED_BYTE, a)
        self.keys[i] = key
        return True

    def bind(self, unit: int = 0) -> None:
        GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
        GL.glBindTexture(GL.GL_TEXTURE_2D_ARRAY, self.id)

    def delete(self) -> None:
        GL.glDeleteTextures([self.id])


class UnitQuad:
    """Two triangles covering (0, 0)-(1, 1), attribute 0."""

    def __init__(self):
        self.vao = GL.glGenVertexArrays(1)
        self.vbo = GL.glGenBuffers(1)
        GL.glBindVertexArray(self.vao)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self.vbo)
        v = np.array([0, 0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1], np.float32)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, v.nbytes, v, GL.GL_STATIC_DRAW)
        GL.glEnableVertexAttribArray(0)
        GL.glVertexAttribPointer(0, 2, GL.GL_FLOAT, GL.GL_FALSE, 0, None)
        GL.glBindVertexArray(0)

    def draw(self) -> None:
        GL.glBindVertexArray(self.vao)
        GL.glDrawArrays(GL.GL_TRIANGLES, 0, 6)
        GL.glBindVertexArray(0)


class RenderTarget:
    """An offscreen RGBA8 framebuffer of the window's size, to keep a drawn picture and copy
    (blit) a rectangle of it to the window in later frames."""

    def __init__(self):
        self.fbo = None
        self.tex = None
        self.size = (0, 0)

    def matches(self, width: int, height: int) -> bool:
        return self.fbo is not None and self.size == (int(width), int(height))

    def ensure(self, width: int, height: int) -> None:
        if self.matches(width, height):
            return
        self.delete()
        self.tex = GL.glGenTextures(1)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.tex)
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, int(width), int(height), 0, GL.GL_RGBA,
                        GL.GL_UNSIGNED_BYTE, None)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_NEAREST)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_NEAREST)
        self.fbo = GL.glGenFramebuffers(1)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.fbo)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, self.tex, 0)
        status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
        if status != GL.GL_FRAMEBUFFER_COMPLETE:
            raise RuntimeError(f"offscreen framebuffer incomplete (status {status:#x})")
        self.size = (int(width), int(height))

    def blit(self, rect, width: int, height: int) -> None:
        """Copy the rectangle (x, y, w, h; y down from the top) to the window's framebuffer."""
        x, y, w, h = (int(round(v)) for v in rect)
        y0 = int(height) - y - h
        GL.glDisable(GL.GL_SCISSOR_TEST)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self.fbo)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, 0)
        GL.glBlitFramebuffer(x, y0, x + w, y0 + h, x, y0, x + w, y0 + h, GL.GL_COLOR_BUFFER_BIT, GL.GL_NEAREST)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)

    def delete(self) -> None:
        if self.fbo is not None:
            GL.glDeleteFramebuffers(1, [self.fbo])
            GL.glDeleteTextures([self.tex])
        self.fbo = self.tex = None
        self.size = (0, 0)


def read_pixels(width: int, height: int) -> np.ndarray:
    """The current framebuffer (read before swapping) as (height, width, 3) uint8, top row first."""
    GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
    GL.glReadBuffer(GL.GL_BACK)
    data = GL.glReadPixels(0, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
    a = np.frombuffer(data, np.uint8).reshape(height, width, 3)
    return a[::-1].copy()
