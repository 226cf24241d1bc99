"""Run-folder locks: one process trains into a run folder at a time (``out/.lock`` holds its pid); others wait
for it (to reuse its result) or are told which process holds the folder. Locks of dead processes are taken over.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

from aecgcnn.errors import InputError


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunBusy(InputError):
    """Another live process holds the run folder (it is training that very run)."""


def lock_owner(lock: Path) -> int | None:
    """The pid of the live process holding a run-folder lock; None when there is no lock (or it was just
    released) or its process is gone."""
    try:
        text = lock.read_text().strip()
    except FileNotFoundError:
        return None
    pid = int(text) if text.isdigit() else 0
    return pid if pid and _pid_alive(pid) else None


@contextmanager
def run_dir_lock(out: Path | None):
    """Claim a run folder for this process (``out/.lock`` holds the pid) so that two processes never
    write into the same run (their history, checkpoint and metrics would interleave); the second one gets
    a :class:`RunBusy` (an InputError) naming the folder and the pid. A lock left by a dead process is taken over."""
    if out is None:
        yield
        return
    lock = out / ".lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            pid = lock_owner(lock)
            if pid:
                raise RunBusy(f"{out}: another process (pid {pid}) is training into this run folder; "
                                 "wait for it to finish or give this run another out_dir") from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
    else:
        raise InputError(f"{out}: could not claim the run folder (lock file {lock})")
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


LOCK_POLL_SECONDS = 30.0


def wait_for_run_dir(out: Path) -> None:
    """Block while another live process holds ``out/.lock`` (it is training this very run: its result
    will be reused instead of trained twice)."""
    told = False
    while (pid := lock_owner(out / ".lock")) and pid != os.getpid():
        if not told:
            print(f"[aecgcnn] waiting for pid {pid}, which is training into {out}")
            told = True
        time.sleep(LOCK_POLL_SECONDS)
