"""Where a long study stands: every run folder under a path (a folder with ``history.csv``, ``run.json`` or
``metrics.json``) with its state, epochs done of planned, best validation MAE so far, the mean time of its last
epochs and, for a run that is training or was interrupted, the time its remaining epochs need at that pace.
Read-only: it opens no checkpoint and takes no lock (``aecgcnn status``).

States: ``finished`` (``metrics.json``), ``training (pid N)`` (a live process holds ``.lock``), ``interrupted``
(neither: rerun the notebook or ``aecgcnn train ... --resume`` to continue it), ``not started`` (a plan and no
epoch: a notebook's queue records every run it will train when it starts, so a study's whole remaining time shows).
A run with no epoch yet has no pace of its own: :func:`estimate_paces` takes that of the most similar run.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from aecgcnn.data.datasets import DATASETS
from aecgcnn.runlock import lock_owner
from aecgcnn.train import read_history

#: the files that make a folder a run folder
RUN_FILES = ("history.csv", "run.json", "metrics.json")
#: epochs over which the recent pace is averaged
PACE_EPOCHS = 3
#: plan keys on which the time of an epoch depends besides the number of crystals: a run's pace stands for another's
#: only when these agree and its dataset has the same structures (the seed, split, target and folder do not matter)
PACE_KEYS = ("preset", "overrides", "protocol", "batch_size", "edge_precision", "amp", "compile", "cutoff",
             "max_neighbors", "device")


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
    state = "finished" if finished else f"training (pid {pid})" if pid else "interrupted" if hist else "not started"
    best = min(hist, key=lambda r: r.get("val_mae", math.inf)) if hist else None
    recent = [r["seconds"] for r in hist[-PACE_EPOCHS:] if "seconds" in r]
    epoch_s = sum(recent) / len(recent) if recent else None
    epochs = exp.get("epochs")
    remaining = None if finished or epochs is None or epoch_s is None else max(epochs - len(hist), 0) * epoch_s
    test = metrics.get("test", {}).get("mae")
    sizes = metrics.get("sizes", {})
    # a descriptor fit (aecgcnn baseline) has no preset and no epochs: its model kind names it
    preset = exp.get("preset") or metrics.get("model_kind", "")
    return {"run": str(out), "preset": preset, "dataset": exp.get("dataset", ""), "state": state,
            "epoch": len(hist), "epochs": epochs, "best_val_mae": best.get("val_mae") if best else None,
            "best_epoch": int(best["epoch"]) if best and "epoch" in best else None, "epoch_s": epoch_s,
            "remaining_s": remaining, "estimated": False, "test_mae": test, "plan": exp,
            "crystals": _crystals_per_epoch(sizes.get("train", exp.get("train_size")),
                                            sizes.get("val", exp.get("val_size")))}


def _crystals_per_epoch(train: int | None, val: int | None) -> float | None:
    """What an epoch's time scales with: the training crystals plus a third of the validation crystals (validation
    runs the forward pass only, about a third of a training step); None when the training size is not known."""
    return None if train is None else train + (val or 0) / 3


def estimate_paces(statuses: list[dict]) -> list[dict]:
    """Fill ``epoch_s`` and ``remaining_s`` of the unfinished runs that have no epoch yet (``estimated`` True) from the
    runs whose plans agree on :data:`PACE_KEYS` and whose datasets read the same structures: the mean pace of those
    with the same number of crystals per epoch, else that of the nearest size scaled by the ratio of crystals per
    epoch. Left None when no run is similar."""

    def key(s):  # datasets that read the same structure files (e.g. CoRE-2019 at 0.15 and 16 bar) cost the same
        dataset = s["plan"].get("dataset")
        structures = DATASETS[dataset].files if dataset in DATASETS else dataset
        return tuple(json.dumps(v, sort_keys=True) for v in [structures] + [s["plan"].get(k) for k in PACE_KEYS])

    for s in statuses:
        if s["state"] == "finished" or s["epoch_s"] is not None or s["epochs"] is None or not s["crystals"]:
            continue
        similar = [r for r in statuses
                   if r["epoch_s"] is not None and not r["estimated"] and r["crystals"] and key(r) == key(s)]
        if not similar:
            continue
        nearest = min(abs(math.log(r["crystals"] / s["crystals"])) for r in similar)
        ref = [r for r in similar if abs(math.log(r["crystals"] / s["crystals"])) == nearest]
        s["epoch_s"] = sum(r["epoch_s"] * s["crystals"] / r["crystals"] for r in ref) / len(ref)
        s["remaining_s"], s["estimated"] = max(s["epochs"] - s["epoch"], 0) * s["epoch_s"], True
    return statuses


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


def is_training(status: dict) -> bool:
    """Whether a :func:`run_status` record is of a run a live process is training now."""
    return status["state"].startswith("training")


def parallel_time(remaining_s: list[float], training: list[bool], processes: int) -> float:
    """Seconds until ``processes`` processes that train one run each at a time finish runs needing
    ``remaining_s`` [n] seconds each, one process per run now ``training`` [n] (it keeps its run), the others
    handed out longest first to the process free soonest (the longest-processing-time rule: at most 4/3 of the
    best schedule). A queue that hands runs out in another order can take longer."""
    if not remaining_s:
        return 0.0
    busy = sorted((r for r, t in zip(remaining_s, training) if t), reverse=True)
    queued = sorted((r for r, t in zip(remaining_s, training) if not t), reverse=True)
    loads = busy[:processes] + [0.0] * max(processes - len(busy), 0)
    for r in busy[processes:] + queued:  # more runs training than processes given: the extra ones queue too
        i = loads.index(min(loads))
        loads[i] += r
    return max(loads)


def status_table(statuses: list[dict], root: Path | None = None, processes: int = 1) -> list[str]:
    """Markdown lines: one row per run (path relative to ``root``) and a summary line with the counts per state
    and the time the unfinished runs with a known plan still need (one after another, at their recent pace; with
    ``processes`` > 1 also on that many processes in parallel, :func:`parallel_time`)."""
    lines = ["| run | model | state | epoch | best val MAE (epoch) | s / epoch | still needs | test MAE |",
             "|---|---|---|---|---|---|---|---|"]
    for s in statuses:
        run = Path(s["run"])
        name = run.relative_to(root).as_posix() if root and run.is_relative_to(root) else run.as_posix()
        approx = "≈ " if s.get("estimated") else ""
        epoch = "" if s["epochs"] is None and not s["epoch"] and s["state"] == "finished" else \
            f"{s['epoch']}/{s['epochs'] or '?'}"  # a finished fit without epochs (a descriptor baseline)
        cells = [name or ".", s["preset"], s["state"], epoch,
                 f"{s['best_val_mae']:.4g} ({s['best_epoch']})" if s["best_val_mae"] is not None else "",
                 approx + f"{s['epoch_s']:.0f}" if s["epoch_s"] is not None else "",
                 "" if s["state"] == "finished" else approx + _duration(s["remaining_s"]),
                 f"{s['test_mae']:.4g}" if s["test_mae"] is not None else ""]
        lines.append("| " + " | ".join(cells) + " |")
    counts = {}
    for s in statuses:
        key = s["state"].split(" (")[0]
        counts[key] = counts.get(key, 0) + 1
    open_runs = [s for s in statuses if s["state"] != "finished"]
    paced = [s for s in open_runs if s["remaining_s"] is not None]
    known = [s["remaining_s"] for s in paced]
    summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no runs"
    if open_runs:
        if known:
            runs = "1 unfinished run with a recorded plan needs" if len(known) == 1 else \
                f"{len(known)} unfinished runs with a recorded plan need"
            summary += f"; {runs} {_duration(sum(known))} more at the recent pace"
            if processes > 1:
                wall = parallel_time(known, [is_training(s) for s in paced], processes)
                summary += f", about {_duration(wall)} on {processes} processes in parallel"
            if any(s.get("estimated") for s in open_runs):
                summary += " (≈: no epoch yet, the pace of the most similar run scaled to its size)"
        unplanned = sum(s["remaining_s"] is None and s["epochs"] is None for s in open_runs)
        unpaced = sum(s["remaining_s"] is None and s["epochs"] is not None for s in open_runs)
        if unplanned:
            summary += f" ({unplanned} started before plans were recorded: epochs planned unknown)"
        if unpaced:
            summary += f" ({unpaced} with no epoch yet and no similar run to take a pace from: time unknown)"
    return lines + ["", summary]
