"""Edge expansions against their formulas on a hand-made cell (GeoCGNN bases, CGCNN Gaussians)."""
import math

import numpy as np
import torch
from pymatgen.core import Lattice, Structure

from aecgcnn.data.batch import collate
from aecgcnn.features import gaussian_expansion, geo_radial_basis, plane_wave_basis, reciprocal_grid, smooth_cutoff
from aecgcnn.graph import build_graph


def test_gaussian_expansion():
    d = torch.tensor([0.0, 1.0, 8.0])
    g = gaussian_expansion(d)
    assert g.shape == (3, 41)
    assert g[1, 5] == 1.0  # centre 5 is at 1.0 Å
    assert math.isclose(float(g[1, 6]), math.exp(-1.0), rel_tol=1e-6)  # one width away


def test_smooth_cutoff_and_radial_basis_formula():
    rc = 8.0
    d = torch.tensor([0.5, 2.0, 7.9, 8.0, 9.0], dtype=torch.float64)
    x = d / rc
    phi = 1 - 6 * x ** 5 + 15 * x ** 4 - 10 * x ** 3
    phi[d >= rc] = 0
    torch.testing.assert_close(smooth_cutoff(d, rc), phi)
    G = geo_radial_basis(d, 64, rc)
    lo = math.exp(-rc)
    for k in (1, 17, 64):
        mu = lo + (1 - lo) * k / 64
        beta = (2 * (1 - lo) / 64) ** -2
        expect = phi * torch.exp(-beta * (torch.exp(-d) - mu) ** 2)
        torch.testing.assert_close(G[:, k - 1], expect)
    assert (G[3:] == 0).all()


def test_plane_waves_formula_on_hand_made_cell():
    lat = Lattice.from_parameters(4.0, 5.0, 6.0, 80, 95, 100)
    s = Structure(lat, ["C", "O"], [[0, 0, 0], [0.3, 0.4, 0.1]])
    g = build_graph(s)
    b = collate([(g, 0.0, "x")])
    P = plane_wave_basis(b.vectors.double(), b.lattice.double(), b.crystal)
    recip = lat.reciprocal_lattice.matrix  # includes the 2π
    fr = [-3 / 8, -1 / 8, 1 / 8, 3 / 8]
    ks = np.array([[a, bb, c] for a in fr for bb in fr for c in fr]) @ recip
    r = g.vectors[1, 4].astype(np.float64)
    expect = np.cos(ks @ r) / math.sqrt(lat.volume)
    np.testing.assert_allclose(P[1, 4].numpy(), expect, rtol=1e-5, atol=1e-6)
    assert reciprocal_grid(b.lattice).shape == (1, 64, 3)


def test_clamped_exponents_change_nothing_above_1e_minus_26():
    """The exponent clamp (fast exp, no subnormal results) against the unclamped formulas on 0-8 Å."""
    d = torch.linspace(0.0, 8.0, 4001)
    centers = torch.linspace(0.0, 8.0, 41)
    literal = torch.exp(-((d.unsqueeze(-1) - centers) ** 2) / 0.2 ** 2)
    torch.testing.assert_close(gaussian_expansion(d), literal, rtol=0, atol=1e-26)
    lo = math.exp(-8.0)
    mu = lo + (1 - lo) * torch.arange(1, 65) / 64
    beta = (2 * (1 - lo) / 64) ** -2
    literal = smooth_cutoff(d).unsqueeze(-1) * torch.exp(-beta * (torch.exp(-d).unsqueeze(-1) - mu) ** 2)
    torch.testing.assert_close(geo_radial_basis(d), literal, rtol=0, atol=1e-26)
    assert (literal < 1e-30).any() and (literal > 0.5).any()  # the clamp is exercised and the peaks are kept
