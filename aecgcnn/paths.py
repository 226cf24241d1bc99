"""Where the package keeps what it writes on its own: the user's cache (graphs, split records of an installed
package) and, only when it runs from a clone of its repository, that checkout. Nothing is ever written beside the
installed package."""
from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def user_cache_root() -> Path:
    """``$XDG_CACHE_HOME/aecgcnn``, else ``~/.cache/aecgcnn``: what the package caches for a user."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aecgcnn"


def checkout_root() -> Path | None:
    """The root of the repository clone the package runs from (an editable install or ``python -m`` in the clone:
    the folder above the package holds ``pyproject.toml`` and ``notebooks/``), or None for an installed package."""
    root = _PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir() else None
