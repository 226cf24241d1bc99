"""Which files a prediction reads and how skipped inputs are reported (the prediction itself:
:meth:`aecgcnn.api.Model.predict`)."""
from __future__ import annotations

from pathlib import Path

from aecgcnn.errors import InputError
from aecgcnn.data.cache import write_problems
from aecgcnn.data.datasets import Entry


def collect_cifs(paths) -> list[Path]:
    """CIF files from a list of files and folders (folders: every ``*.cif`` below them, sorted, as ``screen``
    reads them). Raises :class:`InputError` when a folder holds no CIF at any depth."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() == ".cif" and f.is_file())
            if not found:
                raise InputError(f"{p}: no *.cif file in this folder or below it")
            out.extend(found)
        else:
            out.append(p)
    return out


def entries_from_files(files: list[Path]) -> tuple[list[Entry], list[tuple[str, str]]]:
    """Entries (target unknown) for CIF files; unreadable files become failures (id, message)."""
    entries, failures = [], []
    for f in files:
        try:
            text = f.read_text(errors="replace")
        except OSError as exc:
            failures.append((f.stem, f"{f}: cannot read file ({exc.strerror})"))
            continue
        entries.append(Entry(id=f.stem, target=float("nan"), cif=text, source=str(f), meta={"path": str(f)}))
    return entries, failures


def fail_when_nothing_done(n_done: int, failures, out_csv, what: str) -> None:
    """When a job produced nothing (``n_done`` 0), report every skipped input (:func:`report_failures`) and raise
    :class:`InputError` ("no structure ``what``: all N input(s) were skipped"), so the command exits non-zero."""
    if n_done:
        return
    report_failures(failures, out_csv)
    raise InputError(f"no structure {what}: all {len(failures)} input(s) were skipped"
                     + (f" (listed in {out_csv})" if failures else ""))


def report_failures(failures, out_csv=None, stream=None) -> None:
    """Print skipped inputs (first 10) to stderr and, with ``out_csv``, list them all in a CSV."""
    import sys
    if not failures:
        return
    if out_csv:
        write_problems(out_csv, failures)
    where = f", listed in {out_csv}" if out_csv else ""
    print(f"skipped {len(failures)} bad input(s){where}:", file=stream or sys.stderr)
    for _, msg in failures[:10]:
        print(f"  {msg}", file=stream or sys.stderr)

