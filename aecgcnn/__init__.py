"""aecgcnn: a reproducibility package for "Extensive Attention Mechanisms in Graph Neural
Networks for Materials Discovery" (AE-CGCNN).

Sub-modules: ``cif`` (reading CIFs with partial charges), ``graph`` (periodic 12-NN crystal
graphs), ``features`` (edge expansions), ``data`` (datasets, cache, batching, splits),
``models`` (AE-CGCNN ladder, GeoCGNN), ``train`` (trainer, metrics), ``explain`` (attention
interpretation), ``cli`` (the ``aecgcnn`` command).
"""

__version__ = "0.1.0"

from aecgcnn.runtime import tune_allocator as _tune_allocator  # noqa: E402

_tune_allocator()  # glibc mmap/trim thresholds (aecgcnn.runtime; opt out with AECGCNN_MALLOC=default)


class InputError(ValueError):
    """A bad input file or entry. The message always names the file (or entry id) and the problem."""
