"""Public sources of the named datasets, with checksums, and the download code.

The files under the data directory were rebuilt from public sources (see ``data/README.md``): ``FILES`` maps
each file to its SHA-256 (to verify a copy) and to the public upstream files it was rebuilt from, with direct
URLs pinned to a commit where one is known. ``download`` fetches those upstream files into
``<data>/upstream/<file>/``; merging them into the rebuilt file (label join, split columns, CIF selection)
is not implemented yet, and ``download`` says so. Offline it raises a clear error naming file and URL.
"""
from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from aecgcnn import InputError

_GEO_CGNN = "https://raw.githubusercontent.com/Tinystormjojo/geo-CGNN/a22effa6ea14f0575fe576a8efbba79534c76ee1"
_MOFSIMPLIFY = "https://github.com/hjkgrp/MOFSimplify/archive/9de799e6deff4c8f04a8dfcbd8bdf188b1a8608e.tar.gz"


@dataclass(frozen=True)
class SourceFile:
    """One data file: path relative to the data root, SHA-256 of the rebuilt file, upstream provenance
    (text) and the direct URLs of upstream files that can be fetched."""

    path: str
    sha256: str
    upstream: tuple[str, ...]
    licence: str
    urls: tuple[str, ...] = ()


FILES = {
    "mp/megnet_mp2018_e_form_with_mp2025_cif.jsonl.gz": SourceFile(
        "mp/megnet_mp2018_e_form_with_mp2025_cif.jsonl.gz",
        "615b4fd883f41fe6d82504a43d7503c918d738380a216b1986154b09e585e3b4",
        ("https://github.com/Tinystormjojo/geo-CGNN (database/targets_MEGNet_2018.csv)",
         "https://github.com/usnistgov/jarvis_leaderboard (megnet_e_form split)",
         "https://github.com/fxcoudert/topology_databases (Materials Project 2025.02 CIFs)"),
        "labels: MIT/BSD (MEGNet, GeoCGNN); structures: CC-BY 4.0 (Materials Project)",
        (f"{_GEO_CGNN}/database/targets_MEGNet_2018.csv",)),
    "mp/matbench_mp_e_form_with_mp2025_cif.jsonl.gz": SourceFile(
        "mp/matbench_mp_e_form_with_mp2025_cif.jsonl.gz",
        "ac326dd2c9fccc8e9e517d77f2f6e3a22016b7c733ef358d7500c99115681808",
        ("https://ml.materialsproject.org/projects/matbench_mp_e_form.json.gz (matbench v0.1)",
         "https://github.com/fxcoudert/topology_databases (Materials Project 2025.02 CIFs)"),
        "matbench: MIT; structures: CC-BY 4.0 (Materials Project)",
        ("https://ml.materialsproject.org/projects/matbench_mp_e_form.json.gz",)),
    "mof/CoRE2019_charged_cifs.tar.xz": SourceFile(
        "mof/CoRE2019_charged_cifs.tar.xz",
        "66c53767c4bfb642f2990be682ad3ddbe45edb8ad2bcbbf2f6ca07c10dd9caaf",
        ("https://github.com/tdpham2/MOFSimplify (fork of hjkgrp/MOFSimplify)",
         "CoRE MOF 2019: https://doi.org/10.5281/zenodo.3677685"),
        "MIT (MOFSimplify); CC-BY 4.0 (CoRE MOF 2019)", (_MOFSIMPLIFY,)),
    "mof/core2019_co2_labels_merged.csv": SourceFile(
        "mof/core2019_co2_labels_merged.csv",
        "148ea2578d70726f8a99ea279228dbb64434fcbfa6ecb057ffe2ca84a8b347b3",
        ("https://github.com/zakariyyabrewster/CGCNN_MOF", "https://github.com/AI4ChemS/FABO",
         "Moosavi et al., Nat. Commun. 11, 4068 (2020)"),
        "MIT"),
    "mof/core2019_geometry_16bar.csv": SourceFile(
        "mof/core2019_geometry_16bar.csv",
        "ab968fa92ebf41f3c82cfb6a51059af66593f22a8a99398fa0057636070e9479",
        ("https://github.com/AI4ChemS/FABO",), "MIT"),
    "mof/bwdb_subset_cifs.tar.xz": SourceFile(
        "mof/bwdb_subset_cifs.tar.xz",
        "1370bdd879d53eb7a2816eb84596b7e67d3a86c3163d77762e66a4f3134ce107",
        ("https://github.com/AI4Science-cloud/AI4MOF",), "see upstream repository"),
    "mof/bwdb_boyd2019_labels.csv": SourceFile(
        "mof/bwdb_boyd2019_labels.csv",
        "89aea4d7352262cba5dcd31b85ee97074a8e7300a63a7437e927317798747944",
        ("Boyd et al., Nature 576, 253 (2019), https://doi.org/10.24435/materialscloud:2018.0016/v3",),
        "CC-BY 4.0"),
}

BW20K_RECORD = "https://archive.materialscloud.org/record/2020.67"


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def fetch(url: str, target: Path, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``target`` (via a ``.part`` file). Raises InputError naming the URL when offline."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
            shutil.copyfileobj(resp, out)
    except (urllib.error.URLError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{url}: download failed ({exc}); this machine may be offline") from None
    tmp.replace(target)
    return target


def download(rel_path: str, data_dir: Path) -> list[Path]:
    """Make ``<data_dir>/<rel_path>`` available: a copy already there is verified against its SHA-256;
    otherwise the fetchable upstream files are downloaded into ``<data_dir>/upstream/<file name>/`` and an
    InputError explains which upstream sources the rebuilt file comes from (the rebuild is not implemented)."""
    src = FILES[rel_path]
    target = Path(data_dir) / rel_path
    if target.exists():
        digest = sha256_of(target)
        if digest != src.sha256:
            raise InputError(f"{target}: checksum mismatch (got {digest}, expected {src.sha256}); "
                             "the file differs from the one our results were measured on")
        return [target]
    fetched = [fetch(url, Path(data_dir) / "upstream" / Path(rel_path).name / url.rsplit("/", 1)[-1])
               for url in src.urls]
    raise InputError(
        f"{target}: not present. Fetched {len(fetched)} upstream file(s) into {Path(data_dir) / 'upstream'}; "
        f"building {rel_path} from them (sha256 {src.sha256}) is not implemented yet. Upstream sources: "
        f"{'; '.join(src.upstream)}")
