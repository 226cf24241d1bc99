"""aecgcnn: a reproducibility package for "Extensive Attention Mechanisms in Graph Neural
Networks for Materials Discovery" (AE-CGCNN).

The model library: ``cif`` (reading CIFs with partial charges), ``graph`` (periodic 12-NN crystal graphs),
``features`` (edge expansions), ``data`` (datasets, cache, batching, splits), ``models`` (AE-CGCNN ladder,
GeoCGNN), ``train`` / ``experiment`` (training runs), ``api`` (:func:`load_model`: predict and explain from Python),
``screen``, ``explain``. The reproduction workflow (studies, verdicts, reports, archive, status):
``aecgcnn.workflow``. The command line: ``aecgcnn.cli``.
"""
from aecgcnn.errors import InputError
from aecgcnn.runtime import tune_allocator as _tune_allocator
from aecgcnn.version import __version__

_tune_allocator()  # glibc mmap/trim thresholds (aecgcnn.runtime; opt out with AECGCNN_MALLOC=default)

__all__ = ["InputError", "__version__", "load_model"]


def load_model(source, device="cpu"):
    """A trained model or ensemble from a shipped model's or dataset's name, a checkpoint, a run or an ensemble
    folder, with ``.predict(items)`` and ``.explain(items)``: see :func:`aecgcnn.api.load_model`."""
    from aecgcnn.api import load_model as _load  # deferred on purpose: `import aecgcnn` stays light (no torch)
    return _load(source, device)
