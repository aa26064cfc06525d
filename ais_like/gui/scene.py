"""Actions of the scene area (filled in by its panel work)."""

from .actions import handler  # noqa: F401
