"""The repository the reproduction workflow works in: notebooks to run, figures and tables to write, archived runs.
Found only when a workflow command asks for it; an installed package without a clone gets a clear error."""
from __future__ import annotations

from pathlib import Path

from aecgcnn.errors import InputError
from aecgcnn.paths import checkout_root


def repository() -> Path:
    """The root of the aecgcnn clone this package runs from, or an InputError saying how to get one."""
    root = checkout_root()
    if root is None:
        raise InputError("the reproduction workflow (aecgcnn reproduce, the notebooks' default figures/ and runs/, "
                         "the archive in results/runs) needs a clone of the aecgcnn repository: git clone it and "
                         "`pip install -e .` there; predict, screen, train and the Python API work without one")
    return root
