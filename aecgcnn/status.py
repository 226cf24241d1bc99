"""Where a long study stands: every run folder under a path (a folder with ``history.csv``, ``run.json`` or
``metrics.json``) with its state, epochs done of planned, best validation MAE so far, the mean time of its last
epochs and, for a run that is training or was interrupted, the time its remaining epochs need at that pace.
Read-only: it opens no checkpoint and takes no lock (``aecgcnn status``).

States: ``finished`` (``metrics.json``), ``training (pid N)`` (a live process holds ``.lock``), ``interrupted``
(neither: rerun the notebook or ``aecgcnn train ... --resume`` to continue it).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from aecgcnn.runlock import lock_owner
from aecgcnn.train import read_history

#: the files that make a folder a run folder
RUN_FILES = ("history.csv", "run.json", "metrics.json")
#: epochs over which the recent pace is averaged
PACE_EPOCHS = 3


def _record(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # absent, or being written
        return {}


def run_status(out: Path) -> dict:
    """The state of one run folder: ``run`` (path), ``preset``, ``dataset``, ``state``, ``epoch`` (done),
    ``epochs`` (planned; None when not recorded), ``best_val_mae`` and ``best_epoch`` (so far), ``epoch_s``
    (mean seconds of the last :data:`PACE_EPOCHS` epochs), ``remaining_s`` (epochs left × ``epoch_s``; None when
    finished or unknown) and ``test_mae`` (finished runs)."""
    out = Path(out)
    hist = read_history(out / "history.csv")
    finished = (out / "metrics.json").exists()
    metrics = _record(out / "metrics.json") if finished else {}
    exp = metrics.get("experiment") or _record(out / "run.json")  # the plan: recorded at the end, or at the start
    pid = None if finished else lock_owner(out / ".lock")
    state = "finished" if finished else (f"training (pid {pid})" if pid else "interrupted")
    best = min(hist, key=lambda r: r.get("val_mae", math.inf)) if hist else None
    recent = [r["seconds"] for r in hist[-PACE_EPOCHS:] if "seconds" in r]
    epoch_s = sum(recent) / len(recent) if recent else None
    epochs = exp.get("epochs")
    remaining = None if finished or epochs is None or epoch_s is None else max(epochs - len(hist), 0) * epoch_s
    test = metrics.get("test", {}).get("mae")
    return {"run": str(out), "preset": exp.get("preset", ""), "dataset": exp.get("dataset", ""), "state": state,
            "epoch": len(hist), "epochs": epochs, "best_val_mae": best.get("val_mae") if best else None,
            "best_epoch": int(best["epoch"]) if best and "epoch" in best else None, "epoch_s": epoch_s,
            "remaining_s": remaining, "test_mae": test}


def find_runs(paths) -> list[Path]:
    """Every run folder under ``paths`` (folders, searched recursively; a run folder itself is one), sorted."""
    found = set()
    for p in map(Path, paths):
        if not p.is_dir():
            raise FileNotFoundError(f"{p}: no such folder")
        for name in RUN_FILES:
            found.update(f.parent for f in p.rglob(name))
    return sorted(found)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    h, m = divmod(int(round(seconds / 60)), 60)
    return f"{h} h {m:02d} min" if h else f"{m} min"


def status_table(statuses: list[dict], root: Path | None = None) -> list[str]:
    """Markdown lines: one row per run (path relative to ``root``) and a summary line with the counts per state
    and the time the unfinished runs with a known plan still need (one after another, at their recent pace)."""
    lines = ["| run | model | state | epoch | best val MAE (epoch) | s / epoch | still needs | test MAE |",
             "|---|---|---|---|---|---|---|---|"]
    for s in statuses:
        run = Path(s["run"])
        name = run.relative_to(root).as_posix() if root and run.is_relative_to(root) else run.as_posix()
        cells = [name or ".", s["preset"], s["state"], f"{s['epoch']}/{s['epochs'] or '?'}",
                 f"{s['best_val_mae']:.4g} ({s['best_epoch']})" if s["best_val_mae"] is not None else "",
                 f"{s['epoch_s']:.0f}" if s["epoch_s"] is not None else "",
                 "" if s["state"] == "finished" else _duration(s["remaining_s"]),
                 f"{s['test_mae']:.4g}" if s["test_mae"] is not None else ""]
        lines.append("| " + " | ".join(cells) + " |")
    counts = {}
    for s in statuses:
        key = s["state"].split(" (")[0]
        counts[key] = counts.get(key, 0) + 1
    open_runs = [s for s in statuses if s["state"] != "finished"]
    known = [s["remaining_s"] for s in open_runs if s["remaining_s"] is not None]
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no runs"
    if open_runs:
        if known:
            runs = "1 unfinished run with a recorded plan needs" if len(known) == 1 else \
                f"{len(known)} unfinished runs with a recorded plan need"
            summary += f"; {runs} {_duration(sum(known))} more at the recent pace"
        if len(known) < len(open_runs):
            summary += f" ({len(open_runs) - len(known)} started before plans were recorded: epochs planned unknown)"
    return lines + ["", summary]
