"""3D scene renderer (in progress)."""


class SceneRenderer:
    def draw(self, state, fb_size) -> None:
        pass
