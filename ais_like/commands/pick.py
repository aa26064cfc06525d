"""Pick particles from segmentation volumes with the watershed picker: threshold, distance
transform, markers at its maxima, watershed, drop small groups, keep the heavier of close groups.
Writes <tomogram>__<feature>_coords.star (RELION 3/4), .star with --format star5 (RELION 5,
centred Å) or .txt (tab-separated integer x y z), beside each input unless --out is given.
"""

from __future__ import annotations

from ._common import add_apix, add_quiet


def add_pick_options(parser, prefix: str = "") -> None:
    """The picker's options (also used by ``ais-like batch`` with ``prefix="pick-"``)."""
    p = "--" + prefix
    parser.add_argument(p + "threshold", type=float, default=0.5, metavar="T",
                        help="probability threshold 0..1, whatever the volume's dtype (default: 0.5)")
    g = parser.add_mutually_exclusive_group()
    g.add_argument(p + "min-volume", type=float, default=None, metavar="Å³", help="drop groups smaller than this")
    g.add_argument(p + "min-volume-px", type=float, default=None, metavar="VOXELS", help="the same in voxels")
    g = parser.add_mutually_exclusive_group()
    g.add_argument(p + "min-spacing", type=float, default=None, metavar="Å",
                   help="of two particles closer than this keep the heavier")
    g.add_argument(p + "min-spacing-px", type=float, default=None, metavar="PX", help="the same in pixels")
    parser.add_argument(p + "bin", type=int, default=1, metavar="B", help="pick on the B-binned volume (default: 1)")
    g = parser.add_mutually_exclusive_group()
    g.add_argument(p + "margin", type=float, default=None, metavar="Å", help="drop picks this close to a face")
    g.add_argument(p + "margin-px", type=float, default=None, metavar="PX", help="the same in pixels")
    parser.add_argument(p + "max-particles", type=int, default=None, metavar="N", help="keep the N heaviest")
    parser.add_argument(p + "position", choices=("centroid", "maximum"), default="centroid",
                        help="group centre: weighted centroid or the voxel of highest value (default: centroid)")
    parser.add_argument(p + "value-max", type=float, default=None, metavar="V",
                        help="stored value of probability 1 (default: 255 for integer volumes, 1 for float)")
    parser.add_argument(p + "format", choices=("star", "star5", "txt"), default="star",
                        help="star: RELION 3/4 pixels; star5: RELION 5 centred Å; txt: x y z (default: star)")


def pick_params(args, prefix: str = "") -> dict:
    """Keyword arguments of :func:`ais_like.picking.pick_particles` from parsed options."""
    a = {k: getattr(args, (prefix + k).replace("-", "_")) for k in (
        "threshold", "min_volume", "min_volume_px", "min_spacing", "min_spacing_px", "bin", "margin",
        "margin_px", "max_particles", "position", "value_max")}
    return a


def add_arguments(parser):
    parser.add_argument("segmentations", nargs="+", metavar="SEG.mrc|FOLDER",
                        help="segmentation volumes <tomogram>__<feature>.mrc, or folders of them")
    add_pick_options(parser)
    parser.add_argument("--model", default=None, metavar="MODEL.scnm",
                        help="the model that made the segmentations: the minimum spacing and size default to "
                             "0.6 and 0.1 of the particle it was trained on (its annotated particles' size)")
    parser.add_argument("--out", default=None, metavar="FILE_OR_DIR",
                        help="output file (one input) or folder (default: beside each input)")
    add_apix(parser)
    add_quiet(parser)


def sizes_from_model(params: dict, model) -> tuple[dict, str]:
    """``params`` with the spacing and size the model's particles give, where none were set."""
    from ..archive import read_metadata
    from ..errors import InputError
    from ..picking import model_particle_diameter, size_defaults

    if model is None:
        return params, ""
    d = model_particle_diameter(read_metadata(model))
    if d is None:
        raise InputError(f"{model}: the model does not record the size of its particles (trained before "
                         "ais_like measured it, or with no whole particle on its annotated slices); "
                         "give --min-spacing and --min-volume")
    out = dict(params)
    sizes = size_defaults(d)
    said = []
    if out.get("min_spacing") is None and out.get("min_spacing_px") is None:
        out["min_spacing"] = sizes["min_spacing"]
        said.append(f"min spacing {sizes['min_spacing']:.0f} Å")
    if out.get("min_volume") is None and out.get("min_volume_px") is None:
        out["min_volume"] = sizes["min_volume"]
        said.append(f"min volume {sizes['min_volume']:.0f} Å³")
    return out, (f"particles of {d:.0f} Å (from {model}): " + ", ".join(said)) if said else ""


def run(args) -> int:
    from ..picking import pick_file
    from ._common import for_each_volume

    params = pick_params(args)

    params, said = sizes_from_model(params, args.model)
    if said and not args.quiet:
        print(said)

    def work(path, out, bar):
        res = pick_file(path, out, fmt=args.format, apix=args.apix, progress=bar, **params)
        if res.n == 0:
            return (f"{res.tomogram}: NO particles found (nothing above threshold {params['threshold']:g} "
                    f"that passes the size and spacing limits) -> {res.out} is empty ({res.seconds:.1f} s)")
        return f"{res.tomogram}: {res.n} particles -> {res.out} ({res.seconds:.1f} s)"

    for_each_volume(args.segmentations, args.out, quiet=args.quiet, desc="pick", work=work)
    return 0
