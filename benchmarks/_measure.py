"""Shared by the benchmark scripts: run a command and measure it from outside; print a result table."""
from __future__ import annotations

import subprocess
import sys
import time

_WRAPPER = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
            "print('PEAK', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024); sys.exit(r.returncode)")


def measured_run(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Run ``cmd`` → (wall seconds, peak RSS in MiB of the largest process of its tree, stdout + stderr). A fresh
    interpreter wraps each command, so the peak is this command's alone; a failure stops the benchmark with the
    command's output."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if r.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    peak = float(next(line.split()[1] for line in r.stdout.splitlines() if line.startswith("PEAK")))
    return dt, peak, r.stdout + r.stderr


def print_table(columns: list[str], rows) -> None:
    """Print ``rows`` (sequences of already formatted cells) as a Markdown table under ``columns``."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(row) + " |")
