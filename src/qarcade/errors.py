"""The one exception type for a user's mistake (bad input, missing file, corrupt checkpoint).

The CLI prints it as one line and exits non-zero; it subclasses ValueError so library callers
can catch it the ordinary way.
"""


class UserError(ValueError):
    """A mistake in what the user asked for; the message names the problem in one line."""
