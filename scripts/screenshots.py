"""Screenshots of every tab of the workbench, from the real window, for anyone to look at.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshots.py --out screenshots/

(on a desktop, run it without xvfb-run). It opens the demo project (written to --demo-dir on
first use), paints and boxes a little, creates a model (trained for --epochs epochs in the model
worker when --train is given), queues nothing, renders the demo membrane as a surface, and saves
``<out>/<n>_<tab>.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="screenshots", help="output folder (default: %(default)s)")
    p.add_argument("--demo-dir", default=None,
                   help="demo data folder (default: a new temporary folder; the script paints into its project)")
    p.add_argument("--train", action="store_true", help="train the demo model before the Models screenshot")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--tiles", type=int, default=400)
    args = p.parse_args(argv)

    import numpy as np

    from ais_like.commands.gui import demo_project
    from ais_like.gui import actions
    from ais_like.gui.state import AppState
    from ais_like.gui.testing import Harness
    from ais_like.volume import open_volume, write_volume

    if args.demo_dir is None:
        import tempfile

        args.demo_dir = tempfile.mkdtemp(prefix="ais_like_screenshots_")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    s = AppState()
    actions.apply(s, "open_project", path=demo_project(args.demo_dir))
    h = Harness(s)

    def shot(i, tab):
        s.extra["select_tab"] = tab
        h.step(3)
        path = out / f"{i}_{tab.lower()}.png"
        h.screenshot(path)
        print(path)

    shot(1, "Datasets")
    # Annotation: a box and a stroke on the current slice
    s.extra["select_tab"] = "Annotation"
    h.step(2)
    z = s.dataset.annotations.annotated_slices("membrane")[0]
    actions.apply(s, "set_z", z=z)
    s.request("add_feature", name="ribosome")
    h.step(2)
    s.request("set_tool", tool="box+")
    h.step(1)
    for x, y in ((60, 200), (190, 60)):
        h.click(*h.image_to_screen(x, y))
    s.request("set_tool", tool="brush")
    h.step(1)
    h.drag([h.image_to_screen(30 + i * 6, 120 + (i % 3)) for i in range(12)])
    h.move(*h.image_to_screen(150, 150))
    shot(2, "Annotation")

    s.request("select_feature", name="membrane")
    s.request("new_model", feature="membrane", architecture="UNet S")
    h.step(2)
    if args.train and s.models.entries:
        key = s.models.entries[-1].key
        s.models.entries[-1].epochs = args.epochs
        s.models.entries[-1].n_tiles = args.tiles
        s.request("train_model", key=key)
        h.run_until(lambda: s.models.entries[-1].status in ("trained", "error"), timeout=900)
        painted = set(s.dataset.annotations.annotated_slices("membrane"))
        actions.apply(s, "set_z", z=next(z for z in range(s.shape[0] // 2, s.shape[0]) if z not in painted))
        h.run_until(lambda: bool(s.preview and s.preview.layers(s)), timeout=120)
    shot(3, "Models")
    shot(4, "Export")

    # Render: the demo's membrane ground truth as a segmentation volume
    demo = Path(args.demo_dir)
    seg = out / "demo_tomogram__membrane.mrc"
    with open_volume(demo / "demo_tomogram_labels_membrane.mrc") as lab:
        write_volume(seg, (np.asarray(lab.read()) > 0).astype(np.uint8) * 255, lab.header)
    s.request("render_add_files", paths=[str(seg), str(demo / "demo_tomogram_particles.txt")])
    s.extra["select_tab"] = "Render"
    h.step(2)
    t0 = time.time()
    h.run_until(lambda: not s.jobs.active, timeout=300)
    h.step(5)
    print(f"render scene ready in {time.time() - t0:.1f} s")
    shot(5, "Render")
    errors = [n.text for n in s.notifications if n.level == "error"]
    for e in errors:
        print("error shown in the window:", e)
    h.close()
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
