"""User-facing errors: one clear line naming the file and the problem."""


class AisLikeError(Exception):
    """An error caused by the user's input (a bad file, option or value).

    The CLI prints ``ais-like: error: <message>`` and exits with code 2; the GUI shows the
    message in a notification. The message should name the file and the problem.
    """


class InputError(AisLikeError, ValueError):
    """A bad input value or file (also a ValueError, so pure functions can raise it)."""


class Cancelled(Exception):
    """Raised inside a job when the user asked it to stop."""
