"""Generate ``aecgcnn/data/atom_features_cgcnn.csv``: CGCNN-style element-property atom features.

Xie & Grossman (PRL 120, 145301, 2018, Supplementary Table S2) describe each element by nine properties,
each one-hot encoded over categories or bins. This script rebuilds such an encoding from pymatgen's element
data (it does not copy the reference code's ``atom_init.json``); the bins are those of the published table:

| property | source (pymatgen) | categories |
|---|---|---|
| group | ``Element.group`` (lanthanides/actinides: 3) | 1..18 (18) |
| period | ``Element.row``; lanthanides 8, actinides 9 | 1..9 (9) |
| electronegativity (Pauling) | ``Element.X`` | 10 bins on [0.5, 4.0] |
| covalent radius (pm) | Cordero et al. 2008 (``CovalentRadius.radius``) | 10 bins on [25, 250] |
| valence electrons | group for groups 1-12, group - 10 for 13-18, 2 for He, 3 for La-Lu / Ac-Lr | 1..12 (12) |
| first ionisation energy (eV) | ``Element.ionization_energies[0]``, natural log | 10 bins on [1.3, 3.3] |
| electron affinity (eV) | ``Element.electron_affinity`` | 10 bins on [-3.0, 3.7] |
| block | ``Element.block`` | s, p, d, f (4) |
| atomic volume (cm^3/mol) | ``Element.molar_volume``, natural log | 10 bins on [1.5, 4.3] |

93 columns in all (the reference file has 92; its exact bin edges are not published with the code).
Values outside a bin range go to the end bin. A property pymatgen does not know for an element (Pauling
electronegativity of He, Ne, Ar; covalent radius of Bk-Fm; molar volume of At, Fr, Fm) leaves that
property's columns all zero for that element. Rows: Z = 1..100.

    python scripts/make_atom_features.py            # rewrite the table
    python scripts/make_atom_features.py --check    # exit 1 when the committed table differs
"""
from __future__ import annotations

import argparse
import io
import math
import sys
import warnings
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "aecgcnn" / "data" / "atom_features_cgcnn.csv"
N_ELEMENTS = 100

# (name, kind, spec): "cat" = categories (list of values); "bin" = (low, high, n) on the raw value
PROPERTIES = [
    ("group", "cat", list(range(1, 19))),
    ("period", "cat", list(range(1, 10))),
    ("electronegativity", "bin", (0.5, 4.0, 10)),
    ("covalent_radius", "bin", (25.0, 250.0, 10)),
    ("valence", "cat", list(range(1, 13))),
    ("ln_first_ionisation", "bin", (1.3, 3.3, 10)),
    ("electron_affinity", "bin", (-3.0, 3.7, 10)),
    ("block", "cat", ["s", "p", "d", "f"]),
    ("ln_molar_volume", "bin", (1.5, 4.3, 10)),
]


def element_properties(z: int) -> dict:
    """Raw property values of element ``z`` (None where pymatgen has no value)."""
    from pymatgen.analysis.molecule_structure_comparator import CovalentRadius
    from pymatgen.core.periodic_table import Element
    el = Element.from_Z(z)
    f_block = 57 <= z <= 71 or 89 <= z <= 103
    group = 3 if f_block else int(el.group)
    period = (8 if z <= 71 else 9) if f_block else int(el.row)
    x = el.X
    cov = CovalentRadius.radius.get(el.symbol)
    valence = 2 if z == 2 else 3 if f_block else (group if group <= 12 else group - 10)
    ie = el.ionization_energies[0] if el.ionization_energies else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ea = el.electron_affinity
        mv = el.molar_volume
    return {
        "group": group, "period": period,
        "electronegativity": None if x is None or math.isnan(x) else float(x),
        "covalent_radius": None if cov is None else 100.0 * float(cov),
        "valence": valence,
        "ln_first_ionisation": None if not ie else math.log(float(ie)),
        "electron_affinity": None if ea is None else float(ea),
        "block": "f" if f_block else el.block,
        "ln_molar_volume": None if mv is None else math.log(float(mv)),
    }


def encode(props: dict) -> list[int]:
    """One-hot encoding of one element's properties (columns in :data:`PROPERTIES` order)."""
    row = []
    for name, kind, spec in PROPERTIES:
        value = props[name]
        width = len(spec) if kind == "cat" else spec[2]
        onehot = [0] * width
        if value is not None:
            if kind == "cat":
                onehot[spec.index(value)] = 1
            else:
                lo, hi, n = spec
                onehot[int(np.clip(math.floor((value - lo) / (hi - lo) * n), 0, n - 1))] = 1
        row += onehot
    return row


def column_names() -> list[str]:
    names = []
    for name, kind, spec in PROPERTIES:
        if kind == "cat":
            names += [f"{name}={v}" for v in spec]
        else:
            lo, hi, n = spec
            edges = np.linspace(lo, hi, n + 1)
            names += [f"{name}[{edges[i]:.3g},{edges[i + 1]:.3g})" for i in range(n)]
    return names


def table_text() -> str:
    buf = io.StringIO()
    buf.write("Z," + ",".join(column_names()) + "\n")
    for z in range(1, N_ELEMENTS + 1):
        buf.write(f"{z}," + ",".join(map(str, encode(element_properties(z)))) + "\n")
    return buf.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed table instead of writing")
    args = ap.parse_args()
    text = table_text()
    if args.check:
        same = OUT.exists() and OUT.read_text() == text
        print(f"{OUT}: {'up to date' if same else 'DIFFERS from what pymatgen gives now'}")
        return 0 if same else 1
    OUT.write_text(text)
    print(f"wrote {OUT} ({N_ELEMENTS} elements x {len(column_names())} columns)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
