"""List the model architectures (plugins), or the installed model library; install models.

Without options: every architecture with its title, whether it is listed by default
(``include``), its default learning rate, a one-line description and the folder it comes from (read from the plugin files;
Keras is not imported). ``--installed``: the models in the local library with their metadata
(``$AIS_LIKE_MODELS`` or ``~/.local/share/ais_like/models``). ``--install FILE.scnm``: check an
archive completely (safe reading, metadata, the model loaded in safe mode) and copy it in.
"""

from __future__ import annotations

import json


def add_arguments(parser):
    parser.add_argument("--all", action="store_true", help="also list architectures hidden by default")
    parser.add_argument("--installed", action="store_true", help="list the local model library")
    parser.add_argument("--install", nargs="+", metavar="FILE.scnm", default=None,
                        help="validate model archives and copy them into the library")
    parser.add_argument("--overwrite", action="store_true", help="with --install: replace a model of the same title")
    parser.add_argument("--folder", default=None, metavar="DIR",
                        help="the model library folder (default: $AIS_LIKE_MODELS or ~/.local/share/ais_like/models)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _architectures(show_all: bool) -> list[dict]:
    from .. import registry

    builtin = registry.builtin_folder().resolve()
    rows = []
    for a in registry.list_architectures(all=show_all):
        folder = a.path.parent.resolve()
        rows.append({"title": a.title, "include": a.include, "learning_rate": a.learning_rate,
                     "description": a.description,
                     "source": "built-in" if folder == builtin else str(folder), "file": a.path.name})
    return rows


def run(args) -> int:
    from .. import library

    if args.install:
        done = [str(library.install(f, args.folder, overwrite=args.overwrite)) for f in args.install]
        if args.json:
            print(json.dumps({"installed": done}, indent=1))
        else:
            for d in done:
                print(f"installed {d}")
        return 0
    if args.installed:
        models = library.list_models(args.folder)
        rows = [m.summary() for m in models]
        if args.json:
            print(json.dumps({"folder": str(library.folder_path(args.folder)), "models": rows}, indent=1, default=str))
            return 0
        print(f"model library: {library.folder_path(args.folder)}")
        if not rows:
            print("(no models installed; add some with: ais-like models --install FILE.scnm)")
        for r in rows:
            if "error" in r:
                print(f"  {r['file']}: cannot be read ({r['error']})")
                continue
            apix = f"{r['apix']:g} Å/px" if r["apix"] else "Å/px unknown"
            loss = f", loss {r['loss']:.4f}" if isinstance(r["loss"], (int, float)) else ""
            print(f"  {r['title']:<24} {r['architecture']:<14} {apix:<14} box {r['box_size']}, "
                  f"{r['parameters']} parameters, {r['epochs']} epochs{loss}  ({r['file']})")
        return 0
    rows = _architectures(args.all)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    width = max([len(r["title"]) for r in rows] + [5])
    for r in rows:
        flag = "" if r["include"] else " (hidden)"
        print(f"{r['title']:<{width}}  lr {r['learning_rate']:<7g} {r['description']}{flag}  [{r['source']}]")
    return 0
