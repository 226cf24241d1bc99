"""Named datasets and user data, read from a data directory.

The data root comes from ``--data-dir`` or the ``AECGCNN_DATA`` environment variable. Each named
dataset yields a list of :class:`Entry` (id, target, CIF text, split metadata). Entries with a
missing / NaN label are kept with ``target = nan`` so the bulk builder can report them.
"""
from __future__ import annotations

import csv
import gzip
import json
import math
import os
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from aecgcnn.errors import InputError
from aecgcnn.data.sources import BW20K_RECORD, FILES, file_digests

ENV_VAR = "AECGCNN_DATA"
#: the demo sample shipped with the package (scripts/make_demo_data.py; aecgcnn/demo/README.md): the data
#: root when none is configured
DEMO_DIR = Path(__file__).resolve().parents[1] / "demo"
_told_demo = False


@dataclass
class Entry:
    """One labelled crystal. ``cif`` is the CIF text; ``source`` names it in messages;
    ``meta`` holds split information (``split`` for MEGNet, ``fold`` for matbench)."""

    id: str
    target: float
    cif: str | None
    source: str
    meta: dict = field(default_factory=dict)


@dataclass
class DatasetSpec:
    """A named dataset: what it predicts, in which units, from which files."""

    name: str
    target: str
    units: str
    files: tuple[str, ...]
    loader: Callable[[Path], list[Entry]]
    description: str
    task: str  # "formation_energy" | "co2_uptake"
    demo_only: bool = False


def resolve_data_dir(data_dir: str | Path | None = None, allow_demo: bool = True) -> Path:
    """The data root: the argument, else ``$AECGCNN_DATA`` (relative paths against the working directory),
    else the demo sample shipped with the package (:data:`DEMO_DIR`, said once per process). With
    ``allow_demo=False`` a missing setting is an InputError instead."""
    global _told_demo
    value = data_dir or os.environ.get(ENV_VAR)
    if not value:
        if not allow_demo:
            raise InputError(f"no data directory: pass --data-dir or set {ENV_VAR} "
                             "(e.g. export AECGCNN_DATA=../shared/data)")
        if not _told_demo:
            print(f"[aecgcnn] no data directory configured (--data-dir or ${ENV_VAR}): using the demo sample "
                  f"shipped with the package ({DEMO_DIR}; 364 CoRE-2019 MOFs, 1,500 MP crystals; see its README)")
            _told_demo = True
        return DEMO_DIR
    return Path(value).expanduser().resolve()


def is_demo(root: Path) -> bool:
    """True when ``root`` is the packaged demo sample."""
    return Path(root).resolve() == DEMO_DIR


def absolutize_data_env() -> None:
    """Make a relative ``$AECGCNN_DATA`` absolute against the current working directory, so processes started
    elsewhere (notebook kernels run inside ``notebooks/``) see the same folder."""
    value = os.environ.get(ENV_VAR)
    if value and not Path(value).expanduser().is_absolute():
        os.environ[ENV_VAR] = str(Path(value).expanduser().resolve())


def _require(data_dir: Path, rel: str) -> Path:
    path = data_dir / rel
    if not path.exists():
        src = FILES.get(rel)
        hint = f" Get it with `aecgcnn data download` or from: {'; '.join(src.upstream)}" if src else ""
        raise InputError(f"{path}: data file not found.{hint}")
    return path


def _float_or_nan(value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    return v


def _jsonl_entries(path: Path, id_key: str, meta_keys: dict) -> list[Entry]:
    out = []
    with gzip.open(path, "rt") as fh:
        for line_no, line in enumerate(fh, 1):
            row = json.loads(line)
            eid = str(row.get(id_key, f"line{line_no}"))
            out.append(Entry(id=eid, target=_float_or_nan(row.get("e_form")), cif=row.get("cif"),
                             source=f"{path.name}:{eid}", meta={k: row.get(v) for k, v in meta_keys.items()}))
    return out


def _load_megnet(data_dir: Path) -> list[Entry]:
    return _jsonl_entries(_require(data_dir, "mp/megnet_mp2018_e_form_with_mp2025_cif.jsonl.gz"),
                          "mp_id", {"split": "split"})


def _load_matbench(data_dir: Path) -> list[Entry]:
    return _jsonl_entries(_require(data_dir, "mp/matbench_mp_e_form_with_mp2025_cif.jsonl.gz"),
                          "mbid", {"fold": "test_fold", "mp_id": "mp_id"})


def read_tar_cifs(archive: Path, stems: set[str] | None = None) -> dict[str, str]:
    """CIF texts from a tar archive, keyed by file stem (optionally only the given stems)."""
    texts = {}
    with tarfile.open(archive) as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".cif"):
                continue
            stem = Path(member.name).stem
            if stems is not None and stem not in stems:
                continue
            texts[stem] = tar.extractfile(member).read().decode("utf-8", errors="replace")
    return texts


def _mof_entries(labels: Path, id_col: str, target_col: str, archive: Path) -> list[Entry]:
    with open(labels, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and target_col not in rows[0]:
        raise InputError(f"{labels}: no column {target_col!r}")
    cifs = read_tar_cifs(archive, {r[id_col] for r in rows})
    return [Entry(id=r[id_col], target=_float_or_nan(r.get(target_col)), cif=cifs.get(r[id_col]),
                  source=f"{archive.name}:{r[id_col]}.cif") for r in rows]


def _core2019(column: str):
    def load(data_dir: Path) -> list[Entry]:
        entries = _mof_entries(_require(data_dir, "mof/core2019_co2_labels_merged.csv"), "MOFname", column,
                               _require(data_dir, "mof/CoRE2019_charged_cifs.tar.xz"))
        return [e for e in entries if not math.isnan(e.target) or e.cif is not None]
    return load


def _load_bwdb_demo(data_dir: Path) -> list[Entry]:
    entries = _mof_entries(_require(data_dir, "mof/bwdb_boyd2019_labels.csv"), "MOFname",
                           "CO2_uptake_P0.15bar_T298K [mmol/g]", _require(data_dir, "mof/bwdb_subset_cifs.tar.xz"))
    return [e for e in entries if e.cif is not None]  # 246 of the 5,000 labelled MOFs have a CIF


def _bw20k(pressure: str):
    def load(data_dir: Path) -> list[Entry]:
        root = data_dir / "bw20k"
        csvs = sorted(root.glob("*.csv")) if root.exists() else []
        if not csvs:
            raise InputError(
                f"{root}: BW-20K is not available offline. Download the Moosavi et al. (2020) archive from "
                f"{BW20K_RECORD}, put its CIFs under {root}/cifs/ (or a cifs .tar.xz) and its label table "
                f"(.csv with a MOF name column and a CO2 uptake column at {pressure}) in {root}/.")
        with open(csvs[0], newline="") as fh:
            rows = list(csv.DictReader(fh))
        cols = list(rows[0]) if rows else []
        id_col = next((c for c in cols if c.lower() in ("mofname", "name", "id", "cif")), None)
        p_key = pressure.replace(" bar", "")
        tcol = next((c for c in cols if "co2" in c.lower() and p_key in c), None)
        if id_col is None or tcol is None:
            raise InputError(f"{csvs[0]}: expected a name column and a CO2 uptake column for {pressure}; got {cols}")
        cif_dir = root / "cifs"
        out = []
        for r in rows:
            path = cif_dir / f"{Path(r[id_col]).stem}.cif"
            out.append(Entry(id=Path(r[id_col]).stem, target=_float_or_nan(r[tcol]),
                             cif=path.read_text(errors="replace") if path.exists() else None, source=str(path)))
        return out
    return load


DATASETS: dict[str, DatasetSpec] = {s.name: s for s in [
    DatasetSpec("mp-megnet-2018", "e_form", "eV/atom", ("mp/megnet_mp2018_e_form_with_mp2025_cif.jsonl.gz",),
                _load_megnet, "MP formation energy, MEGNet MP-2018.6.1 labels and train/val/test split, "
                "MP-2025 structures", "formation_energy"),
    DatasetSpec("mp-matbench", "e_form", "eV/atom", ("mp/matbench_mp_e_form_with_mp2025_cif.jsonl.gz",),
                _load_matbench, "MP formation energy, matbench v0.1 labels and 5 folds, MP-2025 structures",
                "formation_energy"),
    DatasetSpec("core2019-co2-0.15bar", "pure_uptake_CO2_298.00_15000", "mol/kg",
                ("mof/core2019_co2_labels_merged.csv", "mof/CoRE2019_charged_cifs.tar.xz"),
                _core2019("pure_uptake_CO2_298.00_15000"), "CoRE MOF 2019 CO2 uptake at 0.15 bar, 298 K "
                "(Moosavi et al. 2020 GCMC), partial charges", "co2_uptake"),
    DatasetSpec("core2019-co2-16bar", "pure_uptake_CO2_298.00_1600000", "mol/kg",
                ("mof/core2019_co2_labels_merged.csv", "mof/CoRE2019_charged_cifs.tar.xz"),
                _core2019("pure_uptake_CO2_298.00_1600000"), "CoRE MOF 2019 CO2 uptake at 16 bar, 298 K "
                "(Moosavi et al. 2020 GCMC), partial charges", "co2_uptake"),
    DatasetSpec("core2019-co2-henry", "logKH_CO2", "log K_H",
                ("mof/core2019_co2_labels_merged.csv", "mof/CoRE2019_charged_cifs.tar.xz"),
                _core2019("logKH_CO2"), "CoRE MOF 2019 CO2 Henry coefficient at 298 K, logarithm as given in the "
                "labels file (Moosavi et al. 2020 GCMC; the property of the published MOF-model comparison: "
                "PMTransformer, MOFTransformer, CGCNN), partial charges", "co2_henry"),
    DatasetSpec("bwdb-demo", "CO2_uptake_P0.15bar_T298K", "mmol/g",
                ("mof/bwdb_boyd2019_labels.csv", "mof/bwdb_subset_cifs.tar.xz"), _load_bwdb_demo,
                "246 BW-DB MOFs with Boyd et al. 2019 labels (biased subset: demo only)", "co2_uptake", True),
    DatasetSpec("bw20k-co2-0.15bar", "CO2 uptake 0.15 bar", "mol/kg", ("bw20k/",), _bw20k("0.15 bar"),
                f"BW-20K (Moosavi et al. 2020), not available offline: {BW20K_RECORD}", "co2_uptake"),
    DatasetSpec("bw20k-co2-16bar", "CO2 uptake 16 bar", "mol/kg", ("bw20k/",), _bw20k("16 bar"),
                f"BW-20K (Moosavi et al. 2020), not available offline: {BW20K_RECORD}", "co2_uptake"),
]}


def _load_user_folder(folder: Path) -> list[Entry]:
    """CGCNN layout: ``id_prop.csv`` (id,target per line, no header) and ``<id>.cif`` files."""
    table = folder / "id_prop.csv"
    if not table.exists():
        raise InputError(f"{folder}: a CGCNN-layout folder needs id_prop.csv (id,target per line) and <id>.cif files")
    out = []
    with open(table, newline="") as fh:
        for line_no, row in enumerate(csv.reader(fh), 1):
            if not row or not row[0].strip():
                continue
            eid = row[0].strip()
            target = _float_or_nan(row[1]) if len(row) > 1 else math.nan
            path = folder / f"{eid}.cif"
            if not out and len(row) > 1 and math.isnan(target) and not path.exists():
                print(f"[aecgcnn] {table}: line {line_no} ({','.join(row)}) read as a header row", file=sys.stderr)
                continue
            out.append(Entry(id=eid, target=target, cif=path.read_text(errors="replace") if path.exists() else None,
                             source=str(path)))
    return without_duplicates(out, table)


def without_duplicates(entries: list[Entry], source) -> list[Entry]:
    """``entries`` with repeated ids collapsed to their first entry when every repeat carries the same label (a
    warning names them); raises :class:`InputError` naming the ids when repeats carry different labels, which
    would otherwise train on two answers for one crystal (or put one crystal in training and test)."""
    first: dict[str, Entry] = {}
    same, conflicting = [], []
    for e in entries:
        if e.id not in first:
            first[e.id] = e
            continue
        a, b = first[e.id].target, e.target
        equal = (math.isnan(a) and math.isnan(b)) or a == b
        (same if equal else conflicting).append(e.id)
    if conflicting:
        shown = ", ".join(sorted(set(conflicting))[:10])
        raise InputError(f"{source}: {len(set(conflicting))} id(s) appear more than once with different labels "
                         f"({shown}); keep one row per crystal")
    if same:
        shown = ", ".join(sorted(set(same))[:10])
        print(f"[aecgcnn] {source}: {len(same)} repeated row(s) with the same label collapsed ({shown})",
              file=sys.stderr)
    return list(first.values())


def _cif_field(value: str, base: Path) -> tuple[str | None, str]:
    """A CIF column holds either CIF text or a path (relative to the table)."""
    if value and "_cell_length_a" in value:
        return value, "inline CIF"
    path = (base / value) if value else None
    if path is not None and path.exists():
        return path.read_text(errors="replace"), str(path)
    return None, str(path)


def _load_user_table(path: Path) -> list[Entry]:
    """CSV or JSONL with columns ``id``, ``cif`` (path or CIF text) and ``target``."""
    if path.suffix in (".jsonl", ".gz"):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
    else:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    out = []
    for k, row in enumerate(rows):
        if "cif" not in row:
            raise InputError(f"{path}: row {k + 1} has no 'cif' field (expected columns id, cif, target)")
        text, source = _cif_field(str(row.get("cif") or ""), path.parent)
        eid = str(row.get("id", k))
        out.append(Entry(id=eid, target=_float_or_nan(row.get("target")), cif=text, source=f"{path.name}:{eid} ({source})"))
    return without_duplicates(out, path)


def dataset_digests(name: str, data_dir: str | Path | None = None) -> dict[str, str]:
    """``{file: SHA-256}`` of the files of named dataset ``name`` in the data folder ``data_dir`` resolves to (``{}``
    for other data, or when a file is missing or a folder): what a run's record keeps to know its data again."""
    spec = DATASETS.get(name)
    return file_digests(resolve_data_dir(data_dir), spec.files) if spec else {}


def recorded_same_data(record: dict, digests: dict[str, str], data_root: str) -> bool:
    """Whether a finished run or fit recorded in ``record`` (a metrics.json) used the data a new one would read, whose
    files have ``digests`` (e.g. :func:`dataset_digests`) and lie in ``data_root``: the same SHA-256 of every data
    file where the record keeps them (``data_sha256``), so a copy of the data in another folder, e.g. on another
    machine after ``aecgcnn archive restore``, is the same data; else (records written before the digests were kept,
    data without files to pin) the same ``data_root`` as recorded."""
    if recorded := record.get("data_sha256"):
        return recorded == digests
    return record.get("data_root", data_root) == data_root  # older records: not recorded


def load_entries(name: str, data_dir: str | Path | None = None) -> list[Entry]:
    """Entries of a named dataset, of a CGCNN-layout folder, or of a CSV/JSONL table.

    ``name`` is a key of :data:`DATASETS` or a path. Raises InputError with a clear message if
    the files are missing.
    """
    if name in DATASETS:
        return DATASETS[name].loader(resolve_data_dir(data_dir))
    path = Path(name).expanduser()
    if path.is_dir():
        return _load_user_folder(path)
    if path.is_file():
        return _load_user_table(path)
    raise InputError(f"{name}: neither a named dataset ({', '.join(DATASETS)}) nor an existing folder/table")
