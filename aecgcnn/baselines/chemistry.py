"""Chemistry descriptors of one crystal graph (composition, metal identity, bulk properties, partial charges):
the part of the descriptor baseline any CIF yields without Zeo++."""
from __future__ import annotations

import numpy as np
from pymatgen.core import Element

from aecgcnn.domain import bulk_properties
from aecgcnn.features import metal_mask
from aecgcnn.graph import CrystalGraph

ELEMENTS = ["H", "C", "N", "O", "F", "S", "P", "Cl", "Br", "I", "B", "Si"]
METALS = ["Zn", "Cu", "Co", "Cd", "Mn", "Ni", "Fe", "Zr", "Mg", "Al", "Ag", "In", "Ca", "Pb", "Sr", "Ba", "Li",
          "Na", "K", "V", "Cr", "Ti", "Ln"]
LANTHANIDES = set(range(57, 72))
_METAL_MASK = metal_mask(100)


def chemistry_descriptors(graph: CrystalGraph) -> dict:
    """Composition and charge descriptors of one crystal: element fractions (12 non-metals), metal
    identity (fractions of 22 common metals + lanthanides), metal fraction, density (g/cm³), volume per
    atom (Å³), number of atoms, mean nearest-neighbour distance (Å), partial-charge statistics (e)."""
    z = graph.atomic_numbers.astype(int)
    n = len(z)
    counts = np.bincount(z, minlength=101)
    out = {f"frac_{e}": counts[Element(e).Z] / n for e in ELEMENTS}
    for m in METALS:
        out[f"metal_{m}"] = (counts[min(LANTHANIDES):max(LANTHANIDES) + 1].sum() if m == "Ln" else counts[Element(m).Z]) / n
    metal = _METAL_MASK[z]
    out.update({"metal_fraction": float(metal.mean()), **bulk_properties(graph, pore=False),
                "mean_nn_distance": float(graph.distances[:, 0].mean())})
    q = graph.charges
    if q is not None:
        out.update({"q_abs_mean": float(np.abs(q).mean()), "q_std": float(q.std()), "q_min": float(q.min()),
                    "q_max": float(q.max()),
                    "q_metal_mean": float(q[metal].mean()) if metal.any() else 0.0,
                    "q_nonmetal_min": float(q[~metal].min()) if (~metal).any() else 0.0})
    return out
