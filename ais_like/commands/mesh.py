"""Export segmentation volumes as Wavefront .obj meshes: marching cubes per connected piece
(one object per piece), optional binning, dust removal, Taubin smoothing and decimation; x, y, z
in Å; the feature colour in a .mtl material. Writes <tomogram>__<feature>.obj beside each input
unless --out is given.
"""

from __future__ import annotations

from ._common import add_apix, add_quiet


def add_mesh_options(parser, prefix: str = "") -> None:
    """The mesher's options (also used by ``ais-like batch`` with ``prefix="mesh-"``)."""
    p = "--" + prefix
    parser.add_argument(p + "threshold", type=float, default=0.5, metavar="T",
                        help="probability threshold 0..1 of the surface (default: 0.5)")
    parser.add_argument(p + "bin", type=int, default=1, metavar="B", help="mesh the B-binned volume (default: 1)")
    g = parser.add_mutually_exclusive_group()
    g.add_argument(p + "dust", type=float, default=None, metavar="Å³", help="drop pieces smaller than this")
    g.add_argument(p + "dust-px", type=float, default=None, metavar="VOXELS", help="the same in voxels")
    parser.add_argument(p + "smooth", type=int, default=0, metavar="N", help="Taubin smoothing iterations (default: 0)")
    parser.add_argument(p + "decimate", type=int, default=None, metavar="FACES", help="at most this many faces in all")
    parser.add_argument(p + "frame", choices=("voxel", "header"), default="voxel",
                        help="origin at voxel (0,0,0) (default) or at the header's origin, as ChimeraX")
    parser.add_argument(p + "colour", default=None, metavar="COLOUR", help="'#rrggbb' or 'r,g,b' (default: by feature)")
    parser.add_argument(p + "value-max", type=float, default=None, metavar="V",
                        help="stored value of probability 1 (default: 255 for integer volumes, 1 for float)")


def mesh_params(args, prefix: str = "") -> dict:
    """Keyword arguments of :func:`ais_like.mesh.mesh_file` from parsed options."""
    return {k: getattr(args, (prefix + k).replace("-", "_")) for k in (
        "threshold", "bin", "dust", "dust_px", "smooth", "decimate", "frame", "colour", "value_max")}


def add_arguments(parser):
    parser.add_argument("segmentations", nargs="+", metavar="SEG.mrc|FOLDER",
                        help="segmentation volumes <tomogram>__<feature>.mrc, or folders of them")
    add_mesh_options(parser)
    parser.add_argument("--out", default=None, metavar="FILE_OR_DIR",
                        help="output .obj (one input) or folder (default: beside each input)")
    add_apix(parser)
    add_quiet(parser)


def run(args) -> int:
    from ..mesh import mesh_file
    from ._common import for_each_volume

    params = mesh_params(args)

    def work(path, out, bar):
        res = mesh_file(path, out, apix=args.apix, progress=bar, **params)
        return f"{path.name}: {res.n_pieces} pieces, {res.n_faces} faces -> {res.out} ({res.seconds:.1f} s)"

    for_each_volume(args.segmentations, args.out, quiet=args.quiet, desc="mesh", work=work)
    return 0
