"""Run records that outlive the machine: copy what a study's run folders hold into a folder committed with the
code (``results/runs``), and back (``aecgcnn archive save`` / ``aecgcnn archive restore``).

A long study (Table III to 44,376 crystals, Table II at 16 bar) takes more CPU-hours than one machine lives. Its
run folders (``runs/``) are never committed: checkpoints and training states are large, and a run folder is
rewritten every epoch. What makes a table is small: each finished run's ``metrics.json`` (settings, resolved
optimiser recipe, data, test and train metrics), ``history.csv`` (one row per epoch), ``run.json`` and
``test_predictions.csv``. :func:`save_runs` copies those of every finished run into the archive,
mirroring the relative paths, so a fresh clone rebuilds a committed table from the records
(``aecgcnn archive restore``, then ``aecgcnn reproduce table3 --profile cpu -p finished_only true``) and a rerun of
the whole study trains only the runs the archive lacks: :func:`aecgcnn.experiment.finished_run` reuses a restored
run exactly as one trained here (same settings, same data).

Options (their files are several MB each: git ignores them under ``results/runs``, so they go to an archive on a
disk that outlives the machine, ``--archive PATH``):
- ``models``: also the finished run's ``checkpoint.pt`` (about 1 MB for AE-CGCNN, 7 MB for GeoCGNN), for the
  notebooks that load trained models (attention, Figure 3).
- ``states``: also the ``train_state.pt`` of runs that have not finished (weights, optimiser, best weights, random
  states: four times the model, 29 MB for GeoCGNN), so that a run longer than a machine's life resumes bit for bit
  on the next one. A finished run's archived state is removed when its records are saved.

Restoring never overwrites a local run that is finished or further along, and never touches a folder that a live
process is training into. Files are copied to a temporary name and renamed, so neither side is ever half-written.
``aecgcnn status results/runs`` shows what an archive holds, as it does for ``runs/``.
"""
from __future__ import annotations

import filecmp
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from aecgcnn.data.datasets import is_demo
from aecgcnn.paths import checkout_root
from aecgcnn.runlock import lock_owner
from aecgcnn.safeload import load_pt
from aecgcnn.workflow.status import find_runs
from aecgcnn.train import read_history

#: the files of a finished run that the archive keeps (those present are copied)
RECORD_FILES = ("metrics.json", "history.csv", "run.json", "test_predictions.csv")
#: what an unfinished run needs to resume (with ``states``)
STATE_FILES = ("run.json", "history.csv", "train_state.pt")
MODEL_FILE = "checkpoint.pt"
STATE_FILE = "train_state.pt"


@dataclass
class ArchiveReport:
    """What :func:`save_runs` or :func:`restore_runs` did, run folder by run folder (paths relative to the roots):
    ``finished`` (records copied), ``states`` (an unfinished run's training state copied), ``skipped`` (run → reason:
    up to date, further along on the target side, busy, or unfinished without ``states``)."""

    finished: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self, verb: str) -> str:
        """One line: how many runs were copied and skipped, by reason."""
        reasons: dict[str, int] = {}
        for why in self.skipped.values():
            reasons[why] = reasons.get(why, 0) + 1
        left = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items()))
        return (f"{verb} {len(self.finished)} finished runs and {len(self.states)} training states"
                + (f"; left {len(self.skipped)} ({left})" if self.skipped else ""))


def _copy(src: Path, dst: Path) -> None:
    """``src`` to ``dst`` through a temporary file in ``dst``'s folder (never half-written), keeping times."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f"{dst.name}.{os.getpid()}.tmp")
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def _same_file(a: Path, b: Path) -> bool:
    return b.exists() and filecmp.cmp(a, b, shallow=False)  # compares in chunks: states are tens of MB


def _epochs_done(run: Path) -> int:
    """Epochs a run folder holds: its training state's, else its history's (0 when neither)."""
    if (run / STATE_FILE).exists():
        return int(load_pt(run / STATE_FILE, what="training state").get("epoch", 0))
    return len(read_history(run / "history.csv"))


def _finished(run: Path) -> bool:
    return (run / "metrics.json").exists()


def _on_demo_data(run: Path) -> bool:
    """Whether a finished run (or descriptor fit) was trained on the demo sample shipped with the package: its records
    are not archived (anyone reruns such a run in minutes, e.g. the ``quick`` profile of the notebook tests)."""
    root = json.loads((run / "metrics.json").read_text()).get("data_root", "")
    return root == "demo" or (root not in ("", "user") and is_demo(Path(root)))


def _copy_run(src: Path, dst: Path, names, report_list: list, rel: str, dry_run: bool = False) -> None:
    """Copy the ``names`` of run folder ``src`` that ``dst`` lacks or holds otherwise; ``rel`` joins
    ``report_list`` when one was (would be, with ``dry_run``) copied."""
    changed = [name for name in names if (src / name).exists() and not _same_file(src / name, dst / name)]
    if not dry_run:
        for name in changed:
            _copy(src / name, dst / name)
    if changed:
        report_list.append(rel)


def save_runs(runs_root, archive_root, models: bool = False, states: bool = False) -> ArchiveReport:
    """Copy the records of every finished run under ``runs_root`` into ``archive_root`` (same relative paths):
    :data:`RECORD_FILES`, plus ``checkpoint.pt`` with ``models``; runs on the demo sample are left out. With
    ``states``, unfinished runs that have done an epoch are saved too (:data:`STATE_FILES`), unless the archive
    already holds them further along. A run being trained is saved as it stands (its last finished epoch: the trainer
    replaces the state file atomically). Returns an :class:`ArchiveReport`."""
    runs_root, archive_root = Path(runs_root), Path(archive_root)
    report = ArchiveReport()
    for run in find_runs([runs_root]):
        rel = run.relative_to(runs_root).as_posix()
        target = archive_root / rel
        if _finished(run) and _on_demo_data(run):
            report.skipped[rel] = "demo data"
        elif _finished(run):
            before = len(report.finished)
            _copy_run(run, target, RECORD_FILES + ((MODEL_FILE,) if models else ()), report.finished, rel)
            if (target / STATE_FILE).exists():  # the archived state of a run that has since finished
                (target / STATE_FILE).unlink()
            if len(report.finished) == before:
                report.skipped[rel] = "up to date"
        elif not (run / STATE_FILE).exists():
            report.skipped[rel] = "not started"
        elif not states:
            report.skipped[rel] = "unfinished (no --states)"
        elif _finished(target) or _epochs_done(target) > _epochs_done(run):
            report.skipped[rel] = "further along in the archive"
        else:
            before = len(report.states)
            _copy_run(run, target, STATE_FILES, report.states, rel)
            if len(report.states) == before:
                report.skipped[rel] = "up to date"
    return report


def restore_runs(archive_root, runs_root, dry_run: bool = False) -> ArchiveReport:
    """Copy every run of ``archive_root`` into ``runs_root`` where the local folder lacks it: a finished run's records
    (and model, when archived) unless the local run has finished too; an unfinished run's training state unless the
    local one has done as many epochs. A folder a live process holds (``.lock``) is left alone. The restored runs
    are then reused or resumed by the notebooks and ``aecgcnn train --resume`` as if trained here. Returns an
    :class:`ArchiveReport`; ``dry_run``: what would be restored, copying nothing."""
    archive_root, runs_root = Path(archive_root), Path(runs_root)
    if not archive_root.is_dir():
        raise FileNotFoundError(f"{archive_root}: no such archive folder")
    report = ArchiveReport()
    for saved in find_runs([archive_root]):
        rel = saved.relative_to(archive_root).as_posix()
        local = runs_root / rel
        if lock_owner(local / ".lock") is not None:
            report.skipped[rel] = "busy (a live process trains it)"
        elif _finished(local):
            report.skipped[rel] = "finished here"
        elif _finished(saved):
            _copy_run(saved, local, RECORD_FILES + (MODEL_FILE,), report.finished, rel, dry_run)
        elif not (saved / STATE_FILE).exists():
            report.skipped[rel] = "no state archived"
        elif _epochs_done(local) >= _epochs_done(saved):
            report.skipped[rel] = "as far along here"
        else:
            _copy_run(saved, local, STATE_FILES, report.states, rel, dry_run)
    return report


#: the archive of the repository's own ``runs/`` (``results/runs``, committed)
#: ``results/runs`` of the repository clone the package runs from (None for an installed package)
REPOSITORY_ARCHIVE = checkout_root() / "results" / "runs" if checkout_root() is not None else None


def restore_hint(runs_root) -> str | None:
    """For a notebook about to run in ``runs_root`` = ``runs/<profile>`` of the repository: a sentence naming how
    many archived runs of that profile (:data:`REPOSITORY_ARCHIVE`) a restore would bring in, with the command;
    None when there are none (or ``runs_root`` is elsewhere)."""
    runs_root = Path(runs_root).resolve()
    if REPOSITORY_ARCHIVE is None or runs_root.parent != (REPOSITORY_ARCHIVE.parents[1] / "runs").resolve():
        return None
    archive = REPOSITORY_ARCHIVE / runs_root.name
    if not archive.is_dir():
        return None
    report = restore_runs(archive, runs_root, dry_run=True)
    if not report.finished and not report.states:
        return None
    return (f"{archive} holds {len(report.finished)} finished runs and {len(report.states)} training states that "
            f"{runs_root} lacks: `aecgcnn archive restore --archive {archive} --runs {runs_root}` first, and the "
            "notebook reuses (or resumes) them instead of training them again")

