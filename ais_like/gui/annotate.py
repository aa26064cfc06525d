"""Actions of the annotate area (filled in by its panel work)."""

from .actions import handler  # noqa: F401
