"""Input encodings: atom features (one-hot Z or CGCNN element properties) and edge-feature expansions,
computed per batch on the device (never stored in the cache).

- :func:`atom_feature_table`: the node input of each element, ``onehot`` or ``cgcnn`` (docs/design-notes.md §1).
- :func:`gaussian_expansion`: CGCNN/AE-CGCNN distance features (docs/design-notes.md §1).
- :func:`geo_radial_basis`: GeoCGNN radial basis on exp(−d) with a smooth cutoff (docs/design-notes.md §3).
- :func:`plane_wave_basis`: GeoCGNN plane waves cos(k·r)/√V on the 4×4×4 reciprocal grid (docs/design-notes.md §3).
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from aecgcnn.config import CUTOFF

ATOM_FEATURES = ("onehot", "cgcnn")
_CGCNN_TABLE = Path(__file__).resolve().parent / "data" / "atom_features_cgcnn.csv"


@lru_cache(maxsize=None)
def _cgcnn_rows() -> np.ndarray:
    table = np.loadtxt(_CGCNN_TABLE, delimiter=",", skiprows=1, dtype=np.float32)
    return table[:, 1:]  # drop the Z column; row i is Z = i + 1


@lru_cache(maxsize=None)
def metal_mask(n_elements: int = 100) -> np.ndarray:
    """bool [n_elements + 1], index Z: metals and metalloids except B and Si (pymatgen's element data), the
    "metal site" of the attention analysis and of the descriptor baseline."""
    from pymatgen.core import Element
    return np.array([False] + [bool(Element.from_Z(z).is_metal or (Element.from_Z(z).is_metalloid and z not in (5, 14)))
                               for z in range(1, n_elements + 1)])


def atom_feature_table(kind: str = "onehot", n_elements: int = 100) -> torch.Tensor:
    """Node input vector of every element: float [n_elements, D], row ``Z − 1``.

    ``onehot``: the identity (D = n_elements), the paper's one-hot atomic number.
    ``cgcnn``: CGCNN's nine element properties one-hot over bins (D = 93; the table and its bins are made by
    ``scripts/make_atom_features.py`` from pymatgen's element data and stored in
    ``aecgcnn/data/atom_features_cgcnn.csv``)."""
    if kind == "onehot":
        return torch.eye(n_elements)
    if kind == "cgcnn":
        rows = _cgcnn_rows()
        if n_elements > rows.shape[0]:
            raise ValueError(f"the cgcnn atom features cover Z = 1..{rows.shape[0]}, not {n_elements}")
        return torch.from_numpy(rows[:n_elements].copy())
    raise ValueError(f"atom_features={kind!r}: expected one of {ATOM_FEATURES}")


#: exponents are clamped at −60: exp(−60) ≈ 9e-27 is zero for these features (their largest values are 1), and
#: float32 exp of arguments whose results underflow to subnormal numbers runs about 9× slower on x86 CPUs
MIN_EXPONENT = -60.0


def _exp(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(x.clamp(min=MIN_EXPONENT))


def gaussian_expansion(d: torch.Tensor, d_min: float = 0.0, d_max: float = CUTOFF, step: float = 0.2,
                       width: float = 0.2) -> torch.Tensor:
    """exp(−(d − μ_k)² / width²), μ_k = d_min, d_min+step, …, d_max. d: [...] Å → [..., 41] for defaults."""
    n = int(round((d_max - d_min) / step)) + 1
    centers = torch.linspace(d_min, d_max, n, device=d.device, dtype=d.dtype)
    return _exp(-((d.unsqueeze(-1) - centers) ** 2) / width ** 2)


def smooth_cutoff(d: torch.Tensor, cutoff: float = CUTOFF) -> torch.Tensor:
    """Φ(d) = 1 − 6x⁵ + 15x⁴ − 10x³, x = d / r_c, zero beyond r_c. d: [...] Å → [...]."""
    x = (d / cutoff).clamp(max=1.0)
    return 1 - 6 * x ** 5 + 15 * x ** 4 - 10 * x ** 3


def geo_radial_basis(d: torch.Tensor, n: int = 64, cutoff: float = CUTOFF) -> torch.Tensor:
    """G_k(d) = Φ(d) exp(−β (e^{−d} − μ_k)²), μ_k = e^{−r_c} + (1 − e^{−r_c}) k/n, k = 1..n,
    β = (2 (1 − e^{−r_c}) / n)^{−2}. d: [...] Å → [..., n]."""
    lo = math.exp(-cutoff)
    mu = lo + (1 - lo) * torch.arange(1, n + 1, device=d.device, dtype=d.dtype) / n
    beta = (2 * (1 - lo) / n) ** -2
    return smooth_cutoff(d, cutoff).unsqueeze(-1) * _exp(-beta * (torch.exp(-d).unsqueeze(-1) - mu) ** 2)


def reciprocal_grid(lattice: torch.Tensor, grid: int = 4) -> torch.Tensor:
    """k-points k = Σ_a f_a b_a with fractional f_a ∈ {±1/8, ±3/8} (grid 4) along the reciprocal
    vectors b = 2π L^{−T}. lattice: [B, 3, 3] (rows = lattice vectors, Å) → [B, grid³, 3] Å⁻¹."""
    recip = 2 * math.pi * torch.linalg.inv(lattice).transpose(-1, -2)  # rows b_a
    f = (torch.arange(grid, device=lattice.device, dtype=lattice.dtype) - (grid - 1) / 2) / grid
    frac = torch.cartesian_prod(f, f, f)  # [grid³, 3]
    return frac @ recip


def plane_wave_basis(vectors: torch.Tensor, lattice: torch.Tensor, crystal: torch.Tensor,
                     grid: int = 4) -> torch.Tensor:
    """P_q = cos(k_q · r_ij) / √V for the grid³ k-points of each atom's crystal.

    vectors: [N, K, 3] Å; lattice: [B, 3, 3]; crystal: [N] → [N, K, grid³] (units Å^{-3/2})."""
    k = reciprocal_grid(lattice, grid)  # [B, Q, 3]
    volume = torch.linalg.det(lattice).abs()  # [B]
    phase = torch.einsum("nkc,nqc->nkq", vectors, k[crystal])
    return torch.cos(phase) / volume.sqrt()[crystal].view(-1, 1, 1)
