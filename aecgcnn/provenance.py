"""Provenance stamps for every result: command, data files (with SHA-256), seed, device, commit."""
from __future__ import annotations

import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

from aecgcnn.version import __version__
from aecgcnn.distributed import context
from aecgcnn.models.fused import kernel_state
from aecgcnn.runtime import allocator_state

_REPO = Path(__file__).resolve().parents[1]


#: what the package writes, not what it runs: figures and tables, archived run records, the documentation and its
#: generated results. Changes there do not make a checkout ``+dirty`` (a notebook regenerating its outputs after another
#: notebook rewrote its own would otherwise stamp a dirty commit on a result computed by committed code).
OUTPUT_PATHS = ("figures", "results", "README.md", "docs", "CHANGELOG.md")


def _read_commit(repo: Path = _REPO) -> str:
    """Short commit of the checkout ``repo`` now, with ``+dirty`` when a tracked file outside
    :data:`OUTPUT_PATHS` has uncommitted changes (untracked files do not count, as in ``git describe --dirty``)."""
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no", "--", ".",
                                *(f":(exclude){path}" for path in OUTPUT_PATHS)],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return (commit or "unknown") + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# read when the package is imported: the code a process runs is the checkout as it was then (a run that ends hours
# later, after commits in an editable install, must not stamp the commit of its end)
_COMMIT_AT_START = _read_commit()


def git_commit() -> str:
    """Short commit of the package checkout when this process imported it, ``+dirty`` with uncommitted changes to
    anything but its outputs (:data:`OUTPUT_PATHS`)."""
    return _COMMIT_AT_START


def device_name(device: str | torch.device = "cpu") -> str:
    """Human-readable device: GPU model or CPU description with thread count."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def command_line(argv: list[str] | None = None) -> str:
    """The command that is running, as a shell line one can paste: the ``aecgcnn`` entry point by its name (not
    its install path), ``python -m aecgcnn`` for the module, ``python`` before a script, arguments quoted, and the
    data root it read (``AECGCNN_DATA=...``) in front when one is set."""
    import os
    import shlex
    argv = list(sys.argv if argv is None else argv)
    head = Path(argv[0]) if argv else Path("")
    if head.name == "aecgcnn":
        argv[0] = "aecgcnn"
    elif head.name == "__main__.py" and head.parent.name == "aecgcnn":
        argv[:1] = ["python", "-m", "aecgcnn"]
    elif head.suffix == ".py":  # a script: benchmarks/..., scripts/...
        argv[:0] = ["python"]
    data = os.environ.get("AECGCNN_DATA")
    return (f"AECGCNN_DATA={shlex.quote(data)} " if data else "") + shlex.join(argv)


def stamp(device="cpu", **extra) -> dict:
    """A provenance record: command line, commit, package and torch versions, device, processes (ranks of a
    torchrun job and their backend), allocator, kernels, UTC time."""
    ctx = context()
    return {"processes": ctx.world_size, **({"backend": ctx.backend} if ctx.active else {}),
            "command": command_line(), "commit": git_commit(), "package_version": __version__,
            "torch": torch.__version__, "device": device_name(device), "allocator": allocator_state(),
            "kernels": kernel_state(),
            "utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), **extra}


def write_record(path, data: dict) -> Path:
    """``data`` as indented JSON at ``path``, never half-written (a temporary file of this process, then renamed):
    the records whose presence marks something done (a run's ``metrics.json`` and ``run.json``, a baseline fit)."""
    import json
    import os
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
    return path
