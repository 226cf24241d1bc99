"""Worker processes with a time limit per job: what graph building runs in, so no single input can stall a job.

A ``multiprocessing.Pool`` cannot stop one task: a structure whose neighbour search never ends (compiled code
that never returns to Python, so no signal handler runs either) would hold its worker, and the job, forever.
:func:`map_limited` instead gives each worker one job at a time over a pipe, kills a worker whose job runs past
``time_limit`` seconds, reports that job through ``on_timeout`` and starts a fresh worker. Workers die with the
parent (Linux ``PR_SET_PDEATHSIG``; elsewhere they end when the pipe closes), so a killed job leaves none behind.
"""
from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import time
from multiprocessing.connection import wait
from typing import Callable, Iterable, Iterator

from aecgcnn.config import GRAPH_TIME_LIMIT



def _die_with_parent() -> None:
    """Ask the kernel to kill this process when its parent dies (Linux only; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _serve(conn, func) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if job is None:
            return
        try:
            conn.send((True, func(job)))
        except (BrokenPipeError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - reported to the parent as the job's failure
            conn.send((False, f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self, ctx, func):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, func), daemon=True)
        self.proc.start()
        child.close()
        self.job, self.deadline = None, None

    def give(self, job, time_limit: float | None) -> None:
        self.job = job
        self.deadline = time.monotonic() + time_limit if time_limit else None
        self.conn.send(job)

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def map_limited(func: Callable, jobs: Iterable, workers: int = 1, time_limit: float | None = GRAPH_TIME_LIMIT,
                on_timeout: Callable | None = None, on_error: Callable | None = None) -> Iterator:
    """``func(job)`` for every job in worker processes, yielded in the order they finish.

    ``workers``: processes (at least 1; the jobs always run outside this process, so any of them can be stopped);
    ``time_limit``: seconds a job may run (None: no limit); a job past it has its worker killed and yields
    ``on_timeout(job, seconds)``; a job whose ``func`` raised (or whose worker died) yields ``on_error(job, message)``.
    Either callback left None re-raises as ``RuntimeError``. Jobs are pulled lazily, so memory holds at most
    ``workers`` of them beyond what the caller keeps."""
    ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context()
    pending = iter(jobs)
    pool = [_Worker(ctx, func) for _ in range(max(1, int(workers)))]
    exhausted = False
    try:
        while True:
            for w in pool:
                if w.job is None and not exhausted:
                    try:
                        w.give(next(pending), time_limit)
                    except StopIteration:
                        exhausted = True
            busy = [w for w in pool if w.job is not None]
            if not busy:
                return
            now = time.monotonic()
            deadlines = [w.deadline for w in busy if w.deadline is not None]
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            ready = wait([w.conn for w in busy], timeout=timeout)
            for k, w in enumerate(pool):
                if w.job is None:
                    continue
                job = w.job
                if w.conn in ready:
                    try:
                        ok, value = w.conn.recv()
                    except (EOFError, OSError):
                        ok, value = False, f"the worker process died (exit code {w.proc.exitcode})"
                        w.stop(kill=True)
                        pool[k] = _Worker(ctx, func)
                    else:
                        w.job = None
                    if ok:
                        yield value
                    elif on_error is not None:
                        yield on_error(job, value)
                    else:
                        raise RuntimeError(value)
                elif w.deadline is not None and time.monotonic() >= w.deadline:
                    w.stop(kill=True)
                    pool[k] = _Worker(ctx, func)
                    if on_timeout is None:
                        raise RuntimeError(f"a job ran past its time limit of {time_limit} s")
                    yield on_timeout(job, time_limit)
    finally:
        for w in pool:
            w.stop(kill=w.job is not None)
