"""Zeo++ geometry of aecgcnn (``aecgcnn geometry``) against the CoRE-2019 table it should reproduce.

N MOFs drawn at random (seed 0) from those of the table whose CIF is in the CoRE-2019 archive; per column the
coefficient of determination R², the mean absolute difference and the median relative difference. Prints a
Markdown table and its provenance line (save it under benchmarks/results/).

    python benchmarks/geometry_core.py [--n 500] [--workers 2] [--data-dir DIR]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from aecgcnn.data.datasets import read_tar_cifs, resolve_data_dir
from aecgcnn.geometry import pore_geometry
from aecgcnn.provenance import command_line, stamp

#: (ours, the table's): the table's pore volumes are Zeo++'s probe-occupiable ones (-volpo), ours the accessible
#: ones (-vol, what pyzeo exposes): compared to show how far apart the two definitions are, not as a check
COMPARED = (("Di", "Di"), ("Df", "Df"), ("Dif", "Dif"), ("ASA [m^2/cm^3]", "ASA [m^2/cm^3]"),
            ("NASA [m^2/cm^3]", "NASA [m^2/cm^3]"), ("AVF", "POAVF"), ("NAVF", "PONAVF"),
            ("density [g/cm^3]", "density [g/cm^3]"), ("CellV [A^3]", "CellV [A^3]"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    root = resolve_data_dir(args.data_dir, allow_demo=False) / "mof"
    table = pd.read_csv(root / "core2019_geometry_16bar.csv").set_index("MOFname")
    cifs = read_tar_cifs(root / "CoRE2019_charged_cifs.tar.xz", set(table.index))
    names = sorted(cifs)
    pick = [names[i] for i in np.random.default_rng(0).choice(len(names), min(args.n, len(names)), replace=False)]
    with tempfile.TemporaryDirectory() as tmp:
        for name in pick:
            (Path(tmp) / f"{name}.cif").write_text(cifs[name])
        ours = pore_geometry([tmp], workers=args.workers).set_index("id")
    ok = ours[ours["problem"] == ""]
    print(f"\n{len(ok)} of {len(pick)} MOFs measured ({len(pick) - len(ok)} skipped: "
          f"{'; '.join(ours.loc[ours['problem'] != '', 'problem'].head(3))})\n")
    print("| ours | CoRE-2019 | R² | mean abs. difference | median rel. difference |")
    print("|---|---|---|---|---|")
    for col, theirs in COMPARED:
        a, b = ok[col].astype(float), table.loc[ok.index, theirs].astype(float)
        good = np.isfinite(a) & np.isfinite(b)
        a, b = a[good], b[good]
        r2 = 1 - ((a - b) ** 2).sum() / ((b - b.mean()) ** 2).sum()
        rel = ((a - b).abs() / b.abs().where(b.abs() > 0)).median()
        print(f"| {col} | {theirs} | {r2:.3f} | {(a - b).abs().mean():.4g} | {rel:.2%} |")
    prov = stamp("cpu", command=command_line())
    print(f"{prov['command']} at commit {prov['commit']}, {prov['device']}, {prov['utc']}")


if __name__ == "__main__":
    main()
