"""Exceptions with messages that say what is wrong and what to do."""


class ChaossimError(Exception):
    """Base class of every error chaossim raises on purpose."""


class ConfigError(ChaossimError, ValueError):
    """A setting is invalid (size, dt/tau, dtype, backend...)."""


class DataError(ChaossimError, ValueError):
    """Input data has the wrong shape, range or non-finite values, or cannot be found."""


class DivergenceError(ChaossimError, FloatingPointError):
    """The dynamics or the parameters became NaN/inf during a run."""


class StoreError(ChaossimError):
    """A run directory or sweep store is missing, corrupt or does not match the request."""


class FencedError(Exception):
    """A write was refused because the writer no longer holds the store's lease (its sweep client has gone,
    docs/faults.md); not a failure of the point: the task stops without writing."""


class ChaossimWarning(UserWarning):
    """Something was adjusted that the user should know about (e.g. a setting capped to the data size)."""
