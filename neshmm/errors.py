"""The errors a user can act on; stages print them as one line instead of a traceback."""


class NeshmmError(Exception):
    """Base for user-facing errors: the message alone tells what is wrong and what to do."""


class ConfigError(NeshmmError):
    """A configuration key has a value outside what is allowed."""


class DataError(NeshmmError):
    """The corpus or an artifact is missing or unusable."""
