"""Output paths checked before any work: a job never computes for minutes and then fails to write."""
from __future__ import annotations

import os
from pathlib import Path

from aecgcnn.errors import InputError


def writable_output(path, what: str = "--out") -> Path:
    """Create the parent folder of the output file ``path`` and check that a file can be written there; returns
    the path. Raises :class:`InputError` (one line: the path and the reason) when the folder cannot be made (a
    parent is a file, no permission, a read-only or virtual file system) or a file in it cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path}: is a folder; give a file name (e.g. {path / 'predictions.csv'})")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"{what} {path}: cannot create its folder {path.parent}: a part of that path is a file") \
            from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{what} {path}: cannot create its folder {path.parent} "
                         f"({getattr(exc, 'strerror', None) or exc})") from None
    probe = path.with_name(f".{path.name}.{os.getpid()}.write-test")
    try:
        with open(probe, "w") as fh:
            fh.write("x")
        probe.unlink()
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        if probe.parent.is_dir():
            probe.unlink(missing_ok=True)
        raise InputError(f"{what} {path}: cannot write there ({exc.strerror or exc})") from None
    return path
