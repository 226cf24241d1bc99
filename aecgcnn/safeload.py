"""Loading ``.pt`` files that a user may have been handed: weights and plain data only, never code.

Every ``torch.load`` in the package goes through :func:`load_pt`, which unpickles with ``weights_only=True``:
tensors, numbers, strings, lists, tuples, dicts and the few extra types of :data:`ALLOWED` (the NumPy array and
dtype reconstructors a training state's NumPy RNG state needs). A file whose pickle names any other global (a
function, a class, ``os.system`` ...) is refused before that global is called, with an :class:`InputError` that
names the file and says it holds code.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from aecgcnn.errors import InputError


def _numpy_globals() -> list:
    """The NumPy reconstructors of an ndarray (``np.random.get_state()`` holds a uint32 array)."""
    core = getattr(np, "_core", None) or np.core  # NumPy 2 moved ``core`` to ``_core``
    out = [core.multiarray._reconstruct, np.ndarray, np.dtype]
    out += [type(np.dtype(t)) for t in (np.uint32, np.int64, np.float64, np.float32, np.int32, np.bool_)]
    return out


#: globals a file may name beyond torch's own weights-only set: data containers, no callables with effects
ALLOWED = _numpy_globals()


def load_pt(path, map_location="cpu", what: str = "checkpoint"):
    """``torch.load(path)`` restricted to weights and plain data (``weights_only=True`` plus :data:`ALLOWED`).

    Raises :class:`InputError` naming ``path`` when the file is missing, is not a torch file, is cut short, or
    holds code (a pickled global outside the allow-list): nothing in the file runs."""
    path = Path(path)
    try:
        with torch.serialization.safe_globals(ALLOWED):
            return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found") from None
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Unsupported global" in text or "GLOBAL" in text or "not an allowed global" in text:
            name = text.split("GLOBAL", 1)[1].split()[0] if "GLOBAL" in text else "an unknown object"
            raise InputError(f"{path}: refused to load this {what}: it holds code or objects other than weights "
                             f"and plain data (it names {name}); aecgcnn loads weights only, and nothing in the "
                             "file was run") from None
        raise InputError(f"{path}: not a readable {what} ({type(exc).__name__}: {text.splitlines()[0][:200]})") \
            from None
    except Exception as exc:  # truncated zip, not a torch file, ...
        first = (str(exc).splitlines() or [""])[0][:200]
        raise InputError(f"{path}: not a readable {what} ({type(exc).__name__}: {first})") from None
