"""The package's one exception type for bad input (kept in a module of its own, which imports nothing, so every
module can raise it without importing the package's public API)."""


class InputError(ValueError):
    """A bad input file or entry. The message always names the file (or entry id) and the problem."""
