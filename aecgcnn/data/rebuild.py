"""Rebuild the data files from their public upstream sources: download (resumable, with progress and SHA-256 of
every upstream file checked), then the merge that produced the files in the data directory, then a check of the
result against the manifest.

Each :class:`Recipe` names the upstream files it needs (:data:`UPSTREAM`, URLs pinned to a commit), the function
that builds the data file from them and the digest the result must have: ``sha256`` when the rebuilt file is
byte-identical to the one our results were measured on, ``content`` when only its content is (the digest of the
rows and columns the loaders read, :func:`labels_digest`). Files without an automated recipe are listed in
:data:`MANUAL` with the exact steps a user has to take.

``base_url`` is a mirror, or the local HTTP server of the tests (tests/test_rebuild.py serves fixture files in the
upstream layouts and runs this code end to end): ``https://raw.githubusercontent.com/<path>`` is fetched as
``<base_url>/<path>``, any other ``https://<host>/<path>`` as ``<base_url>/<host>/<path>`` (:meth:`Context.url`).
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
import shutil
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from aecgcnn.errors import InputError
from aecgcnn.data.sources import FILES, sha256_of

GITHUB_RAW = "https://raw.githubusercontent.com"
_CGCNN_MOF = f"{GITHUB_RAW}/zakariyyabrewster/CGCNN_MOF/c000efcb5935fd75b8f2a13cb770c36030d8fe57/test_datasets"
_FABO = f"{GITHUB_RAW}/AI4ChemS/FABO/8fcf5de17b4ea7466416f33c6600ddd8d9427e55/FABO/data/Suboptimal_dataset"
_JARVIS = (f"{GITHUB_RAW}/usnistgov/jarvis_leaderboard/57afc55f94c8a6f4562f73a3173968cd4b2f83b1/jarvis_leaderboard/"
           "benchmarks/AI/SinglePropertyPrediction")
#: the charged CoRE-2019 CIFs, one file per MOF (github.com/tdpham2/MOFSimplify, MIT; CoRE MOF 2019 CC-BY 4.0)
CORE2019_CIFS = f"{GITHUB_RAW}/tdpham2/MOFSimplify/7f94c3ddbb2f222ed00b25756244b65fac3a2738/CoRE2019"
#: their names (the upstream folder's listing at that commit, sorted), shipped because a raw-file host cannot list
CORE2019_NAMES = Path(__file__).resolve().parent / "core2019_cif_names.txt.gz"
BWDB_NAMES = Path(__file__).resolve().parent / "bwdb_cif_names.txt.gz"  # AI4MOF's 1,100 BW-DB CIFs
_AI4MOF = f"{GITHUB_RAW}/AI4Science-cloud/AI4MOF/9298a44a19645b6c49f4fcbe020a2b5dda6dcaf8/data/MOF_data/MOF_data"
#: the Materials Project 2025.02 CIFs, one file per mp-id (github.com/fxcoudert/topology_databases, CC-BY 4.0)
MP2025_CIFS = f"{GITHUB_RAW}/fxcoudert/topology_databases/41163fcf52ff9bdb3f993c83ef7eaee6f1676b50/cif"
#: matbench v0.1 (MIT; structures and formation energies of the Materials Project 2018), not on GitHub
MATBENCH_MP_E_FORM = "https://ml.materialsproject.org/projects/matbench_mp_e_form.json.gz"
#: the mbid -> mp-id pairs of the matbench entries our MP file keeps (matbench publishes no mp-ids; recovered once by
#: formation energy and formula, see scripts/make_matbench_ids.py), shipped
MATBENCH_IDS = Path(__file__).resolve().parent / "matbench_mp_ids.txt.gz"


@dataclass(frozen=True)
class Upstream:
    """One public upstream file: where it is and the SHA-256 it had when our data files were built (None: not
    pinned, because the file could not be fetched when its recipe was written; the rebuilt data file's digest is
    still checked)."""

    url: str
    sha256: str | None


#: upstream files by key (the key is also the file name under ``<data>/upstream/``)
UPSTREAM = {
    "cgcnn_mof_id_CO2_LP.csv": Upstream(f"{_CGCNN_MOF}/id_CO2_LP.csv",
                                        "354fadbd57201eb20084408c298d0a53a0733ca033df4411f1675d319c2df33a"),
    "cgcnn_mof_id_CH4_HP.csv": Upstream(f"{_CGCNN_MOF}/id_CH4_HP.csv",
                                        "5f96e3c61448180ddfd29c6407bfcd4d6d8dba4969d0ce38dd14680a5dfe8c09"),
    "cgcnn_mof_id_logKH_CO2.csv": Upstream(f"{_CGCNN_MOF}/id_logKH_CO2.csv",
                                           "4e9ccb071136ab9d3c94f3345841f4fe5a6c6ef2a3cdfdbd38393ae1bf4ddbd0"),
    "cgcnn_mof_id_Di.csv": Upstream(f"{_CGCNN_MOF}/id_Di.csv",
                                    "ecff13c74cd1b68e68b8a4583cb600ca4f051ce7550f5aaaf131defb54ded0ec"),
    "cgcnn_mof_id_Df.csv": Upstream(f"{_CGCNN_MOF}/id_Df.csv",
                                    "60afd9aad779a627e18aef643d3ebcdf284dffd159a42ea461ab1c59f77413d6"),
    "cgcnn_mof_id_Dif.csv": Upstream(f"{_CGCNN_MOF}/id_Dif.csv",
                                     "bf41701e81112b25c30676f5bf71156f7dc92988187a66bc2765fc8cc53054cd"),
    "fabo_CoRE2019_15000_no_chem.csv": Upstream(f"{_FABO}/CoRE2019_15000_no_chem.csv",
                                                "f2b1bd19e57b2e56e1c695e80ef47b54d301df5fa3a6b2b440891a080496f255"),
    "fabo_CoRE2019_1600000_no_chem.csv": Upstream(f"{_FABO}/CoRE2019_1600000_no_chem.csv",
                                                  "ab968fa92ebf41f3c82cfb6a51059af66593f22a8a99398fa0057636070e9479"),
    "ai4mof_all_MOFs_screening_data_ads.csv": Upstream(f"{_AI4MOF}/all_MOFs_screening_data_ads.csv",
                                                       "89aea4d7352262cba5dcd31b85ee97074a8e7300a63a7437e927317798747944"),
    "jarvis_megnet_e_form.json.zip": Upstream(f"{_JARVIS}/megnet_e_form.json.zip",
                                              "da8612889b31ac223465011c07d19ad1649802c4fa17aeaa515b3c53b6c60ddf"),
    "matbench_mp_e_form.json.gz": Upstream(MATBENCH_MP_E_FORM, None),
}


def fetch(url: str, target: Path, sha256: str | None = None, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``target``, resuming a partial ``target.part`` with an HTTP Range request (from the start
    when the server ignores ranges), with a progress bar. With ``sha256`` a finished file is checked: a copy already
    at ``target`` with that digest is reused; a mismatch is an InputError naming the URL (the upstream file
    changed). Offline / HTTP errors: an InputError naming the URL."""
    target = Path(target)
    if target.exists() and (sha256 is None or sha256_of(target) == sha256):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            resumed = have and resp.status == 206
            total = resp.headers.get("Content-Length")
            total = int(total) + (have if resumed else 0) if total else None
            with open(part, "ab" if resumed else "wb") as out, \
                    tqdm(total=total, initial=have if resumed else 0, unit="B", unit_scale=True,
                         desc=f"download {target.name}", disable=not progress) as bar:
                for block in iter(lambda: resp.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the range starts at the end: the part file is complete
            pass
        else:
            raise InputError(f"{url}: download failed (HTTP {exc.code} {exc.reason})") from None
    except (urllib.error.URLError, OSError) as exc:
        raise InputError(f"{url}: download failed ({getattr(exc, 'reason', exc)}); this machine may be offline "
                         f"(the partial download {part} is kept and resumed next time)") from None
    if sha256 is not None and (got := sha256_of(part)) != sha256:
        part.unlink()
        raise InputError(f"{url}: the upstream file changed (SHA-256 {got}, expected {sha256}); the rebuild would "
                         "not be the data our results were measured on")
    part.replace(target)
    return target


@dataclass
class Context:
    """What a build function may need beyond its upstream files: where to keep downloads, the mirror, progress."""

    data_dir: Path
    base_url: str | None = None
    progress: bool = True

    def url(self, url: str) -> str:
        """``url`` on the mirror when one is set: ``https://raw.githubusercontent.com/<path>`` becomes
        ``<mirror>/<path>``, any other ``https://<host>/<path>`` becomes ``<mirror>/<host>/<path>``."""
        if not self.base_url:
            return url
        base = self.base_url.rstrip("/")
        if url.startswith(GITHUB_RAW):
            return base + url[len(GITHUB_RAW):]
        return base + "/" + url.split("://", 1)[1]

    def structures(self, base: str, ids: list[str], folder: str, workers: int = 16) -> dict[str, bytes | None]:
        """The bytes of ``<base>/<id>.cif`` for every id (None where the collection has no such file, HTTP 404),
        fetched in parallel into ``<data>/upstream/<folder>/`` (``<id>.absent`` marks a 404), so an interrupted
        download resumes where it stopped. Any other failure is an InputError naming the URL."""
        from concurrent.futures import ThreadPoolExecutor
        root = self.data_dir / "upstream" / folder
        root.mkdir(parents=True, exist_ok=True)

        def one(i: str) -> bytes | None:
            cif, absent = root / f"{i}.cif", root / f"{i}.absent"
            if cif.exists():
                return cif.read_bytes()
            if absent.exists():
                return None
            data = _get(self.url(f"{base}/{i}.cif"))
            if data is None:
                absent.touch()
                return None
            tmp = cif.with_name(cif.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(cif)
            return data

        with ThreadPoolExecutor(workers) as pool:
            texts = list(tqdm(pool.map(one, ids), total=len(ids), desc=f"structures {folder}",
                              disable=not self.progress))
        return dict(zip(ids, texts))


def _get(url: str, timeout: float = 60.0, tries: int = 3) -> bytes | None:
    """The bytes at ``url``; None on HTTP 404; other failures retried, then an InputError naming the URL."""
    for attempt in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            error = f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError) as exc:
            error = f"{getattr(exc, 'reason', exc)}; this machine may be offline"
    raise InputError(f"{url}: download failed after {tries} tries ({error}); rerun to resume")


# --------------------------------------------------------------------------------------------------- the merges

LABEL_COLUMNS = ("MOFname", "pure_uptake_CO2_298.00_15000", "pure_uptake_methane_298.00_6500000", "logKH_CO2", "Di",
                 "Df", "Dif", "source_015bar", "pure_uptake_CO2_298.00_1600000")
_CGCNN_COLUMNS = {"pure_uptake_CO2_298.00_15000": "CO2_LP", "pure_uptake_methane_298.00_6500000": "CH4_HP",
                  "logKH_CO2": "logKH_CO2", "Di": "Di", "Df": "Df", "Dif": "Dif"}
_FABO_015 = "pure_uptake_CO2_298.00_15000"
_FABO_16 = "pure_uptake_CO2_298.00_1600000"


def _read_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as fh:  # FABO's files start with a byte-order mark
        return list(csv.DictReader(fh))


def _number(text: str | None) -> str:
    """A CSV number in one canonical spelling (Python's shortest repr), '' when empty or NaN."""
    if text is None or text.strip() == "":
        return ""
    x = float(text)
    return "" if math.isnan(x) else repr(x)


def merge_core2019_labels(files: dict[str, Path], out: Path, ctx: Context) -> None:
    """``mof/core2019_co2_labels_merged.csv`` from CGCNN_MOF's six ``id_*.csv`` tables and FABO's two CoRE-2019
    tables. Rows: CGCNN_MOF's MOFs in its order, then FABO's 16 bar table's other MOFs in its order, then any
    MOF only in FABO's 0.15 bar table. 0.15 bar: CGCNN_MOF's ``CO2_LP``, else FABO's value, except for MOFs
    listed more than once in FABO's table (ambiguous: left empty); ``source_015bar`` says which; CH4 and logKH:
    CGCNN_MOF only; Di/Df/Dif: CGCNN_MOF, else FABO (0.15 bar, then 16 bar table); 16 bar: FABO."""
    cg = {col: {r["MOFname"]: r[src] for r in _read_rows(files[f"cgcnn_mof_id_{src}.csv"])}
          for col, src in _CGCNN_COLUMNS.items()}
    order = [r["MOFname"] for r in _read_rows(files["cgcnn_mof_id_CO2_LP.csv"])]
    f15_rows = _read_rows(files["fabo_CoRE2019_15000_no_chem.csv"])
    f16_rows = _read_rows(files["fabo_CoRE2019_1600000_no_chem.csv"])
    counts = Counter(r["MOFname"] for r in f15_rows)
    f15 = {r["MOFname"]: r for r in f15_rows}
    f16 = {}
    for r in f16_rows:
        f16.setdefault(r["MOFname"], r)
    seen = set(order)
    for name in [r["MOFname"] for r in f16_rows] + [r["MOFname"] for r in f15_rows]:
        if name not in seen:
            seen.add(name)
            order.append(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(LABEL_COLUMNS)
        for name in order:
            fabo = f15.get(name) if counts[name] == 1 else None
            if name in cg["pure_uptake_CO2_298.00_15000"]:
                low, source = cg["pure_uptake_CO2_298.00_15000"][name], "CGCNN_MOF id_CO2_LP.csv"
            elif fabo is not None and _number(fabo[_FABO_015]):
                low, source = fabo[_FABO_015], "FABO CoRE2019_15000_no_chem.csv"
            else:
                low, source = "", ""
            geo = [cg[c][name] if name in cg[c] else (f15.get(name) or f16.get(name) or {}).get(c, "")
                   for c in ("Di", "Df", "Dif")]
            w.writerow([name, _number(low), _number(cg["pure_uptake_methane_298.00_6500000"].get(name)),
                        _number(cg["logKH_CO2"].get(name)), *map(_number, geo), source,
                        _number(f16.get(name, {}).get(_FABO_16))])


def merge_megnet_mp2025(files: dict[str, Path], out: Path, ctx: Context) -> None:
    """``mp/megnet_mp2018_e_form_with_mp2025_cif.jsonl.gz`` from the jarvis-leaderboard MEGNet MP-2018.6.1 split
    (``megnet_e_form.json``: train / val / test, id -> formation energy, eV/atom) and the Materials Project 2025.02
    CIF of each mp-id (:data:`MP2025_CIFS`) without its ``_geom_bond`` loop. Rows in the split file's order (train,
    val, test), one JSON object per line (``mp_id``, ``e_form``, ``split``, ``cif``); ids without a CIF are left
    out (26 % of them). Written gzip-compressed with a zero timestamp."""
    import gzip
    import json
    import zipfile
    with zipfile.ZipFile(files["jarvis_megnet_e_form.json.zip"]) as z:
        split = json.loads(z.read("megnet_e_form.json"))
    rows = [(part, i, v) for part in ("train", "val", "test") for i, v in split[part].items()]
    cifs = ctx.structures(MP2025_CIFS, [i for _, i, _ in rows], "topology_databases_cif")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        for part, i, v in rows:
            if cifs[i] is not None:
                cif = _strip_bonds(cifs[i])
                fh.write((json.dumps({"mp_id": i, "e_form": float(v), "split": part, "cif": cif}) + "\n").encode())


def _strip_bonds(cif: bytes) -> str:
    """A Materials Project 2025 CIF without its ``_geom_bond`` loop (as our MP data files keep them)."""
    return cif.decode().split("loop_\n_geom_bond")[0]


def merge_matbench(ids_file: Path = MATBENCH_IDS) -> Callable[[dict, Path, Context], None]:
    """The recipe of ``mp/matbench_mp_e_form_with_mp2025_cif.jsonl.gz``: matbench v0.1 ``matbench_mp_e_form.json.gz``
    (a pandas ``split`` table: ``index`` mbids, ``columns`` [structure, e_form], ``data`` rows; 132,752 entries), the
    mbid -> mp-id pairs of ``ids_file`` (:data:`MATBENCH_IDS`: ``<mbid> <mp-id>`` lines) and the Materials Project
    2025.02 CIF of each mp-id. ``test_fold`` is matbench's official 5-fold assignment (scikit-learn KFold(5,
    shuffle=True, random_state=18012019) over the matbench order). Rows in matbench order, one JSON object per line
    (``mbid``, ``mp_id``, ``e_form``, ``test_fold``, ``cif``); entries without a pair or a CIF are left out.
    gzip-compressed, zero timestamp."""
    def build(files: dict[str, Path], out: Path, ctx: Context) -> None:
        import gzip
        import json

        import numpy as np
        from sklearn.model_selection import KFold
        src = files["matbench_mp_e_form.json.gz"]
        with gzip.open(src, "rt") as fh:
            table = json.load(fh)
        if table.get("columns") != ["structure", "e_form"] or len(table.get("index", ())) != len(table.get("data", ())):
            raise InputError(f"{src}: not matbench's mp_e_form table (expected a pandas 'split' table with columns "
                             f"['structure', 'e_form'], got columns {table.get('columns')})")
        mbids = table["index"]
        fold = np.empty(len(mbids), dtype=int)
        for k, (_, test) in enumerate(KFold(5, shuffle=True, random_state=18012019).split(np.arange(len(mbids)))):
            fold[test] = k
        pairs = dict(line.split() for line in gzip.open(ids_file, "rt"))
        keep = [(i, m) for i, m in enumerate(mbids) if m in pairs]
        cifs = ctx.structures(MP2025_CIFS, sorted({pairs[m] for _, m in keep}), "topology_databases_cif")
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
            for i, m in keep:
                cif = cifs[pairs[m]]
                if cif is not None:
                    row = {"mbid": m, "mp_id": pairs[m], "e_form": float(table["data"][i][1]),
                           "test_fold": int(fold[i]), "cif": _strip_bonds(cif)}
                    fh.write((json.dumps(row) + "\n").encode())
    return build


def pack_cifs(base: str, names_file: Path, folder: str, member_dir: str) -> Callable[[dict, Path, Context], None]:
    """A recipe that packs every CIF of an upstream folder (``<base>/<name>.cif`` for the names in ``names_file``,
    the folder's listing at the pinned commit, shipped because a raw-file host cannot list folders) as
    ``<member_dir>/<name>.cif``, bytes as they are, in name order, into a .tar.xz. A listed name the host no longer
    has is an InputError (the upstream folder changed)."""
    def build(files: dict[str, Path], out: Path, ctx: Context) -> None:
        import gzip
        import tarfile
        names = gzip.open(names_file, "rt").read().split()
        cifs = ctx.structures(base, names, folder)
        missing = [n for n in names if cifs[n] is None]
        if missing:
            raise InputError(f"{base}: {len(missing)} CIFs are gone upstream (e.g. {missing[:3]})")
        out.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(out, "w:xz") as tar:
            for n in tqdm(names, desc="packing CIFs", disable=not ctx.progress):
                info = tarfile.TarInfo(f"{member_dir}/{n}.cif")
                info.size = len(cifs[n])
                tar.addfile(info, io.BytesIO(cifs[n]))
    return build


def copy_single(key: str) -> Callable[[dict[str, Path], Path, Context], None]:
    """A recipe whose data file is one upstream file as it is."""
    def build(files: dict[str, Path], out: Path, ctx: Context) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(files[key], out)
    return build


def labels_digest(path: Path, columns=LABEL_COLUMNS) -> str:
    """SHA-256 of a label table's content: ``columns`` of every row in file order, numbers in canonical spelling
    (so a file with extra annotation columns, or numbers written differently, has the same digest)."""
    h = hashlib.sha256()
    for r in _read_rows(path):
        cells = [r.get(c, "") if c in ("MOFname", "source_015bar") else _number(r.get(c)) for c in columns]
        h.update(("\x1f".join(cells) + "\n").encode())
    return h.hexdigest()


def gunzip_digest(path: Path) -> str:
    """SHA-256 of a gzip file's decompressed bytes (the compressed bytes depend on the compressor)."""
    import gzip
    h = hashlib.sha256()
    with gzip.open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tar_digest(path: Path) -> str:
    """SHA-256 over a tar archive's files in name order (each: name, NUL, SHA-256 of its bytes): independent of
    member order, timestamps and compression."""
    import tarfile
    members = {}
    with tarfile.open(path, "r:*") as tar:
        for m in tar:
            if m.isfile():
                members[m.name] = hashlib.sha256(tar.extractfile(m).read()).digest()
    h = hashlib.sha256()
    for name in sorted(members):
        h.update(name.encode() + b"\0" + members[name])
    return h.hexdigest()


DIGESTS = {"sha256": sha256_of, "content": labels_digest, "gunzip": gunzip_digest, "tar": tar_digest}


@dataclass(frozen=True)
class Recipe:
    """How to rebuild one data file: its upstream keys, the build function ``(files, out, Context)``, and the digest
    the result must have (``check``: a key of :data:`DIGESTS`: ``sha256`` of the file's bytes, ``content`` =
    :func:`labels_digest`, ``gunzip`` = :func:`gunzip_digest`, ``tar`` = :func:`tar_digest`)."""

    upstream: tuple[str, ...]
    build: Callable[[dict[str, Path], Path, "Context"], None]
    check: str
    digest: str
    note: str = ""


RECIPES = {
    "mof/core2019_co2_labels_merged.csv": Recipe(
        tuple(k for k in UPSTREAM if k.startswith(("cgcnn_mof_", "fabo_"))), merge_core2019_labels, "content",
        "837848662975df938e9ee5568b4bda2b21a5653c9248fa198739f61f44928c09",
        "the annotation columns cif_in_mofsimplify_CoRE2019 / cif_in_core_mof_wheel_ASR of the shipped copy are not "
        "rebuilt (no loader reads them)"),
    "mof/core2019_geometry_16bar.csv": Recipe(
        ("fabo_CoRE2019_1600000_no_chem.csv",), copy_single("fabo_CoRE2019_1600000_no_chem.csv"), "sha256",
        "ab968fa92ebf41f3c82cfb6a51059af66593f22a8a99398fa0057636070e9479"),
    "mof/CoRE2019_charged_cifs.tar.xz": Recipe(
        (), pack_cifs(CORE2019_CIFS, CORE2019_NAMES, "mofsimplify_CoRE2019", "CoRE2019"), "tar", "5aa57f30f9ef412cc1deea2c44de2f46909a64b77b515197c4ba2af57dc2127f",
        "12,023 CIF requests to raw.githubusercontent.com (16 at a time; resumable)"),
    "mof/bwdb_subset_cifs.tar.xz": Recipe(
        (), pack_cifs(f"{_AI4MOF}", BWDB_NAMES, "ai4mof_bwdb", "cif"), "tar", "3e4a8f21cd81cae8af0093ab4d6f6f47a4b1633f422829f439b1567610d58f2f",
        "1,100 CIF requests to raw.githubusercontent.com"),
    "mof/bwdb_boyd2019_labels.csv": Recipe(
        ("ai4mof_all_MOFs_screening_data_ads.csv",), copy_single("ai4mof_all_MOFs_screening_data_ads.csv"), "sha256",
        "89aea4d7352262cba5dcd31b85ee97074a8e7300a63a7437e927317798747944"),
    "mp/megnet_mp2018_e_form_with_mp2025_cif.jsonl.gz": Recipe(
        ("jarvis_megnet_e_form.json.zip",), merge_megnet_mp2025, "gunzip",
        "074a78843b37afcac5e08f44ca347b27d67ac0c7a36265ae66dd9ec770a46aad",
        "69,239 CIF requests to raw.githubusercontent.com (16 at a time; resumable)"),
    "mp/matbench_mp_e_form_with_mp2025_cif.jsonl.gz": Recipe(
        ("matbench_mp_e_form.json.gz",), merge_matbench(), "gunzip",
        "084fe26ce15d86a7c9e699274e2f9a411ab00f42cedd748cee9c751e81ce86ca",
        "matbench's file is not pinned by SHA-256 (it could not be fetched when this recipe was written), the result "
        "is checked; 114,946 CIF requests to raw.githubusercontent.com (16 at a time; resumable; shared with the "
        "MEGNet file's)"),
}

#: data files without an automated rebuild: the exact manual steps (none at present)
MANUAL: dict[str, str] = {}


def rebuild(rel_path: str, data_dir: Path, base_url: str | None = None, progress: bool = True,
            recipes: dict | None = None, upstream: dict | None = None) -> Path:
    """Rebuild ``<data_dir>/<rel_path>`` from its upstream files (downloaded to ``<data_dir>/upstream/``, reused
    when already there with the right SHA-256) and check the result against its recipe's digest; the file is
    written only when the check passes. Files without a recipe: an InputError with the manual steps."""
    recipes = RECIPES if recipes is None else recipes
    upstream = UPSTREAM if upstream is None else upstream
    if rel_path not in recipes:
        raise InputError(f"{rel_path}: no automated rebuild; by hand: {MANUAL.get(rel_path, 'see data/README.md')}")
    recipe = recipes[rel_path]
    ctx = Context(Path(data_dir), base_url, progress)
    files = {k: fetch(ctx.url(upstream[k].url), ctx.data_dir / "upstream" / k, upstream[k].sha256, progress)
             for k in recipe.upstream}
    target = ctx.data_dir / rel_path
    tmp = target.with_name(target.name + ".rebuilt")
    recipe.build(files, tmp, ctx)
    got = DIGESTS[recipe.check](tmp)
    if got != recipe.digest:
        tmp.unlink()
        raise InputError(f"{target}: the rebuilt file does not match the manifest ({recipe.check} digest {got}, "
                         f"expected {recipe.digest}); upstream files: {', '.join(files)}")
    tmp.replace(target)
    return target


__all__ = ["UPSTREAM", "RECIPES", "MANUAL", "Upstream", "Recipe", "Context", "fetch", "rebuild", "labels_digest",
           "gunzip_digest", "merge_core2019_labels", "merge_megnet_mp2025", "merge_matbench", "sha256_of"]


def download(rel_path: str, data_dir: Path, base_url: str | None = None, progress: bool = True) -> tuple[Path, str]:
    """Make ``<data_dir>/<rel_path>`` available → (path, what was done: ``verified`` | ``rebuilt``). A present copy
    is checked against its SHA-256 (a mismatch is an InputError); a missing one is rebuilt from its upstream sources
    (:func:`rebuild`; ``base_url``: a mirror of raw.githubusercontent.com). Without an
    automated rebuild: an InputError with the manual steps and the upstream sources."""
    src = FILES[rel_path]
    target = Path(data_dir) / rel_path
    if target.exists():
        digest = sha256_of(target)
        if digest != src.sha256:
            raise InputError(f"{target}: checksum mismatch (got {digest}, expected {src.sha256}); "
                             "the file differs from the one our results were measured on")
        return target, "verified"
    if rel_path in RECIPES:
        return rebuild(rel_path, data_dir, base_url, progress), "rebuilt"
    raise InputError(f"{target}: not present and not rebuilt automatically yet. By hand: {MANUAL.get(rel_path, 'see data/README.md')}. "
                     f"Upstream sources: {'; '.join(src.upstream)}")
