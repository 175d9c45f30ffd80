"""The errors a user can act on; stages print them as one line instead of a traceback."""


class NeshmmError(Exception):
    """Base for user-facing errors: the message alone tells what is wrong and what to do."""


class ConfigError(NeshmmError):
    """A configuration key has a value outside what is allowed."""


class DataError(NeshmmError):
    """The corpus or an artifact is missing or unusable."""


class NotFittedError(NeshmmError):
    """A model was asked to score or sample before it was fitted or loaded."""


def require(ok: bool, key: str, value: object, allowed: str) -> None:
    """Raise ``ConfigError("key=value: must be <allowed>")`` unless ``ok``: the one shape every
    range check takes, so each error line names the key, the value and what is allowed."""
    if not ok:
        raise ConfigError(f"{key}={value!r}: must be {allowed}")
