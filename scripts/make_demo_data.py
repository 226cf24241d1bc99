"""Draw the demo sample shipped inside the package (``aecgcnn/demo/``) from the full datasets.

The sample mirrors the layout of the data directory (``mof/``, ``mp/``), so every loader, notebook and
command works on it unchanged; it is what the package uses when no data directory is configured.

- CoRE-2019: MOFs with a CIF, partial charges and both CO2 labels (0.15 and 16 bar), at most
  ``--max-atoms`` atoms per cell (the test suite trains on them on 2 CPU cores), stratified by the
  0.15 bar uptake (quintiles) × atom count (terciles), equal draws per stratum, seeded; plus the MOFs the
  unit tests name. Label and geometry rows of the same MOFs.
- MP formation energy (MEGNet-2018 labels and split, MP-2025 structures): ``--mp-train`` / ``--mp-val`` /
  ``--mp-test`` crystals of the respective MEGNet parts, drawn so that every element of the full training
  set appears at least once in the demo training part (greedy cover, seeded), the rest at random.

    python scripts/make_demo_data.py --data-dir ../shared/data        # rewrites aecgcnn/demo/
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import re
import sys
import tarfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "aecgcnn" / "demo"
TEST_MOFS = ["HAWVAE_clean", "ABEXOW_clean", "ACODON_clean", "ABETIN_clean"]  # named by tests/conftest.py
LOW, HIGH = "pure_uptake_CO2_298.00_15000", "pure_uptake_CO2_298.00_1600000"
METALS = set("Li Be Na Mg Al K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Cs Ba "
             "La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Th U".split())


def _atom_count(cif: str) -> int:
    """Rows of the atom-site loop of a plain P1 CoRE CIF (one row per atom)."""
    lines = cif.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip().startswith("_atom_site_"))
    i = start
    while i < len(lines) and lines[i].strip().startswith("_atom_site_"):
        i += 1
    n = 0
    while i < len(lines) and lines[i].strip() and not lines[i].strip().startswith(("loop_", "_", "#")):
        n += 1
        i += 1
    return n


def _elements(cif: str) -> set[str]:
    m = re.search(r"_chemical_formula_sum\s+'?([^'\n]+)'?", cif)
    return set(re.findall(r"([A-Z][a-z]?)\d*\.?\d*", m.group(1))) if m else set()


def sample_core(data_dir: Path, n_per_stratum: int, max_atoms: int, seed: int):
    rng = np.random.default_rng(seed)
    with open(data_dir / "mof" / "core2019_co2_labels_merged.csv", newline="") as fh:
        rows = {r["MOFname"]: r for r in csv.DictReader(fh)}
    cifs = {}
    with tarfile.open(data_dir / "mof" / "CoRE2019_charged_cifs.tar.xz") as tar:
        for member in tar:
            stem = Path(member.name).stem
            if member.isfile() and stem in rows:
                cifs[stem] = tar.extractfile(member).read().decode("utf-8", errors="replace")
    ok = [n for n in sorted(cifs) if rows[n][LOW] and rows[n][HIGH] and "_atom_site_charge" in cifs[n]]
    atoms = {n: _atom_count(text) for n, text in cifs.items()}
    pool = [n for n in ok if atoms[n] <= max_atoms]
    up = np.array([float(rows[n][LOW]) for n in pool])
    size = np.array([atoms[n] for n in pool])
    q_up = np.quantile(up, [0.2, 0.4, 0.6, 0.8])
    q_size = np.quantile(size, [1 / 3, 2 / 3])
    strata: dict[tuple, list[str]] = {}
    for n, u, s in zip(pool, up, size):
        strata.setdefault((int(np.searchsorted(q_up, u)), int(np.searchsorted(q_size, s))), []).append(n)
    chosen = set(TEST_MOFS)
    for key in sorted(strata):
        names = strata[key]
        chosen.update(names[i] for i in rng.permutation(len(names))[:n_per_stratum])
    chosen = sorted(chosen)
    return chosen, rows, cifs, atoms


def write_core(out: Path, data_dir: Path, chosen, rows, cifs) -> None:
    (out / "mof").mkdir(parents=True, exist_ok=True)
    fields = list(next(iter(rows.values())))
    with open(out / "mof" / "core2019_co2_labels_merged.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows[n] for n in chosen)
    with open(data_dir / "mof" / "core2019_geometry_16bar.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        geo = [r for r in reader if r.get("MOFname") in set(chosen)]
        geo_fields = reader.fieldnames
    with open(out / "mof" / "core2019_geometry_16bar.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=geo_fields)
        w.writeheader()
        w.writerows(geo)
    with tarfile.open(out / "mof" / "CoRE2019_charged_cifs.tar.xz", "w:xz") as tar:
        for n in chosen:
            data = cifs[n].encode()
            info = tarfile.TarInfo(f"CoRE2019/{n}.cif")
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))


def sample_mp(data_dir: Path, sizes: dict, seed: int):
    rng = np.random.default_rng(seed)
    parts: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    with gzip.open(data_dir / "mp" / "megnet_mp2018_e_form_with_mp2025_cif.jsonl.gz", "rt") as fh:
        for line in fh:
            row = json.loads(line)
            parts[row["split"]].append(row)
    chosen = {}
    for part, n in sizes.items():
        rows = [parts[part][i] for i in rng.permutation(len(parts[part]))]
        if part == "train":  # greedy element cover first
            need = set().union(*(_elements(r["cif"]) for r in rows))
            picked, seen = [], set()
            for r in rows:
                el = _elements(r["cif"])
                if el - seen:
                    picked.append(r)
                    seen |= el
                if seen >= need:
                    break
            ids = {r["mp_id"] for r in picked}
            picked += [r for r in rows if r["mp_id"] not in ids][: max(0, n - len(picked))]
            chosen[part] = picked[:max(n, len(picked))]
        else:
            chosen[part] = rows[:n]
    return chosen


def write_mp(out: Path, chosen: dict) -> None:
    (out / "mp").mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(out / "mp" / "megnet_mp2018_e_form_with_mp2025_cif.jsonl.gz", "wb", mtime=0) as gz:
        for part in ("train", "val", "test"):
            for r in chosen[part]:
                gz.write((json.dumps(r) + "\n").encode())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-stratum", type=int, default=24, help="MOFs per (uptake quintile, size tercile)")
    ap.add_argument("--max-atoms", type=int, default=400)
    ap.add_argument("--mp-train", type=int, default=1000)
    ap.add_argument("--mp-val", type=int, default=250)
    ap.add_argument("--mp-test", type=int, default=250)
    args = ap.parse_args()
    data_dir = Path(args.data_dir)
    chosen, rows, cifs, atoms = sample_core(data_dir, args.per_stratum, args.max_atoms, args.seed)
    write_core(OUT, data_dir, chosen, rows, cifs)
    mp = sample_mp(data_dir, {"train": args.mp_train, "val": args.mp_val, "test": args.mp_test}, args.seed)
    write_mp(OUT, mp)
    from aecgcnn.cif import parse_cif
    metals = sorted({el.symbol for n in chosen for el in parse_cif(cifs[n], n).structure.composition.elements}
                    & METALS)
    mp_elements = sorted(set().union(*(_elements(r["cif"]) for r in mp["train"])))
    manifest = {
        "command": "python scripts/make_demo_data.py " + " ".join(sys.argv[1:]),
        "seed": args.seed,
        "core2019": {"n": len(chosen), "max_atoms": args.max_atoms, "per_stratum": args.per_stratum,
                     "atoms_min_median_max": [int(min(atoms[n] for n in chosen)),
                                              int(np.median([atoms[n] for n in chosen])),
                                              int(max(atoms[n] for n in chosen))],
                     "uptake_0.15bar_min_max": [min(float(rows[n][LOW]) for n in chosen),
                                                max(float(rows[n][LOW]) for n in chosen)],
                     "metals": metals, "ids": chosen},
        "mp_megnet_2018": {k: len(v) for k, v in mp.items()} | {"train_elements": len(mp_elements),
                                                                 "ids": {k: [r["mp_id"] for r in v] for k, v in mp.items()}},
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1))
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT}: {len(chosen)} CoRE MOFs ({len(metals)} metals), MP {manifest['mp_megnet_2018']['train']}"
          f"/{manifest['mp_megnet_2018']['val']}/{manifest['mp_megnet_2018']['test']} "
          f"({len(mp_elements)} elements in train); {size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
