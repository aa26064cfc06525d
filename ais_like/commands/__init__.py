"""One module per ``ais-like`` command: ``add_arguments(parser)`` and ``run(args) -> int``."""
