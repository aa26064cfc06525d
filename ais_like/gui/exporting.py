"""Actions of the exporting area (filled in by its panel work)."""

from .actions import handler  # noqa: F401
