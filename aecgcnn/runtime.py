"""Process-level runtime settings applied when the package is imported: the glibc allocator.

Why: on CPU these models allocate and free per-edge tensors of tens to hundreds of MB several times per
layer and step. glibc as it comes serves every block above its mmap threshold (at most 32 MB) with a fresh
``mmap`` and returns it to the kernel on ``free``, so the next tensor of the same size faults all its pages
in again: on 64-MOF batches the training process spent more time in the kernel (page faults) than in
PyTorch (docs/performance.md). Raising the mmap and trim thresholds keeps freed blocks in the process
for reuse. The setting is made with ``mallopt`` through ctypes, so it reaches notebook kernels and every
entry point (environment variables such as ``MALLOC_MMAP_THRESHOLD_`` only act at process start).

Opt out with ``AECGCNN_MALLOC=default`` in the environment (set before ``import aecgcnn``). Where the C
library is not glibc (macOS, Windows, musl) nothing is changed. :func:`allocator_state` is recorded in
every provenance stamp.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

# mallopt parameter numbers (glibc malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_INT_MAX = 2**31 - 1  # mallopt takes an int: 2 GiB is the largest threshold it accepts

#: the settings applied by default (bytes): blocks below 2 GiB come from the heap and stay there when freed
#: (up to 2 GiB of free heap top kept), and the heap grows 64 MiB at a time.
TUNED = {"mmap_threshold": _INT_MAX, "trim_threshold": _INT_MAX, "top_pad": 64 * 2**20}

_STATE = {"allocator": "not set"}


def tune_allocator(settings: dict | None = None) -> str:
    """Apply the glibc ``mallopt`` settings (default :data:`TUNED`) unless ``AECGCNN_MALLOC=default``;
    returns (and records) a one-line description of the allocator state."""
    if os.environ.get("AECGCNN_MALLOC", "").lower() in ("default", "off", "0", "no"):
        _STATE["allocator"] = "glibc defaults (AECGCNN_MALLOC opt-out)"
        return _STATE["allocator"]
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        _STATE["allocator"] = f"unchanged ({platform.system()} {platform.libc_ver()[0] or 'libc'})"
        return _STATE["allocator"]
    s = {**TUNED, **(settings or {})}
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = all(libc.mallopt(param, ctypes.c_int(min(int(s[key]), _INT_MAX))) == 1
                 for param, key in ((_M_MMAP_THRESHOLD, "mmap_threshold"), (_M_TRIM_THRESHOLD, "trim_threshold"),
                                    (_M_TOP_PAD, "top_pad")))
    except (OSError, AttributeError):
        ok = False
    _STATE["allocator"] = ("glibc tuned: " + ", ".join(f"{k}={v}" for k, v in s.items())) if ok \
        else "glibc defaults (mallopt refused)"
    return _STATE["allocator"]


def allocator_state() -> str:
    """How the allocator was set up in this process (for provenance stamps)."""
    return _STATE["allocator"]
