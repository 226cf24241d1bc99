"""Attention explanations: weights sum to 1, follow atom permutations, spread evenly over supercell copies."""
import numpy as np
import torch
from conftest import rocksalt, triclinic

from aecgcnn.explain import bonded_motifs, explain_graphs, importance_statistics, write_cif, write_extxyz
from aecgcnn.graph import build_graph
from aecgcnn.models import model_from_preset


def model():
    torch.manual_seed(0)
    return model_from_preset("ae-cgcnn", geo_features="radial", node_dim=16, n_conv=2).eval()


def test_weights_sum_to_one_per_crystal():
    gs = [build_graph(triclinic()), build_graph(rocksalt())]
    atoms, extra = explain_graphs(model(), gs, ["a", "b"])
    np.testing.assert_allclose(atoms.groupby("id")["importance"].sum().to_numpy(), 1.0, rtol=1e-5)
    assert set(extra["prediction"]) == {"a", "b"} and extra["head_weights"]["a"].shape == (2, 3)


def test_weights_follow_a_permutation(rng):
    s = triclinic()
    perm = rng.permutation(len(s))
    m = model()
    base, _ = explain_graphs(m, [build_graph(s)], ["x"])
    permuted, _ = explain_graphs(m, [build_graph(type(s).from_sites([s[i] for i in perm]))], ["x"])
    np.testing.assert_allclose(permuted["importance"].to_numpy(), base["importance"].to_numpy()[perm], rtol=1e-4)


def test_supercell_spreads_weights_evenly():
    s = triclinic()
    sc = s.copy()
    sc.make_supercell([2, 1, 1])  # pymatgen orders each site followed by its image
    m = model()
    base, _ = explain_graphs(m, [build_graph(s)], ["x"])
    big, _ = explain_graphs(m, [build_graph(sc)], ["x"])
    w = big["importance"].to_numpy().reshape(len(s), 2)
    np.testing.assert_allclose(w[:, 0], w[:, 1], rtol=1e-4)
    np.testing.assert_allclose(w.sum(1), base["importance"].to_numpy(), rtol=1e-4)


def test_exports_and_statistics(tmp_path):
    from aecgcnn.cif import read_cif
    g = build_graph(triclinic())
    atoms, _ = explain_graphs(model(), [g], ["t"])
    write_extxyz(atoms, g, tmp_path / "t.xyz")
    lines = (tmp_path / "t.xyz").read_text().splitlines()
    assert lines[0] == "4" and "importance:R:1" in lines[1] and len(lines) == 6
    write_cif(atoms, g, tmp_path / "t.cif")
    assert len(read_cif(tmp_path / "t.cif").structure) == 4
    stats = importance_statistics(atoms, {"t": g})
    metal = stats["metal"].set_index("metal")
    assert abs(metal["atom_share"].sum() - 1) < 1e-9 and abs(metal["importance_share"].sum() - 1) < 1e-6
    assert metal.loc["metal", "atom_share"] == 0.25  # one Mg among Si, O, O


def test_motifs_on_a_ring():
    from pymatgen.core import Lattice, Structure
    # a benzene-like C6 ring with one H on one carbon, isolated in a big cell
    ang = np.arange(6) * np.pi / 3
    ring = np.stack([1.39 * np.cos(ang), 1.39 * np.sin(ang), np.zeros(6)], 1) + 5
    h = ring[0] + (ring[0] - 5) / 1.39 * 1.08
    s = Structure(Lattice.cubic(15.0), ["C"] * 6 + ["H"], np.vstack([ring, h]), coords_are_cartesian=True)
    motifs = bonded_motifs(build_graph(s))
    assert list(motifs[:6]) == ["ring"] * 6 and motifs[6] == "leaf"


def rings_by_cycle_basis(adj, max_ring=8):
    """The definition, literally: atoms on a cycle of <= max_ring bonds of a minimum cycle basis (networkx)."""
    import networkx as nx
    G = nx.Graph()
    G.add_nodes_from(range(len(adj)))
    G.add_edges_from((u, v) for u, nbrs in enumerate(adj) for v in nbrs)
    ring = np.zeros(len(adj), dtype=bool)
    for cycle in nx.minimum_cycle_basis(G):
        if len(cycle) <= max_ring:
            ring[list(cycle)] = True
    return ring


def test_short_rings_match_the_minimum_cycle_basis():
    """Fused rings, a 9-ring (too long), a 9-ring with a chord (two short rings), a chain, and random sparse graphs
    (seeded): the local searches find the same atoms as the cycles of <= 8 bonds of a minimum cycle basis."""
    from aecgcnn.explain import in_short_ring

    def graph(n, edges):
        adj = [set() for _ in range(n)]
        for u, v in edges:
            adj[u].add(v)
            adj[v].add(u)
        return adj
    cases = [graph(10, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (4, 6), (6, 7), (7, 8), (8, 3), (8, 9)]),
             graph(9, [(k, (k + 1) % 9) for k in range(9)]),
             graph(9, [(k, (k + 1) % 9) for k in range(9)] + [(0, 4)]),
             graph(5, [(0, 1), (1, 2), (2, 3), (3, 4)])]
    rng = np.random.default_rng(0)
    for _ in range(40):
        n = int(rng.integers(5, 40))
        cases.append(graph(n, [tuple(rng.choice(n, 2, replace=False).tolist()) for _ in range(int(n * rng.uniform(0.8, 1.4)))]))
    for adj in cases:
        np.testing.assert_array_equal(in_short_ring(adj), rings_by_cycle_basis(adj))
    assert not in_short_ring(cases[1]).any() and in_short_ring(cases[2]).all()


def test_short_rings_on_real_mofs(core_cifs):
    """The same on real CoRE-2019 MOFs (one of them large)."""
    from aecgcnn.cif import parse_cif
    from aecgcnn.explain import bond_adjacency, in_short_ring
    for name, text in core_cifs.items():
        adj = bond_adjacency(build_graph(parse_cif(text, name).structure))
        np.testing.assert_array_equal(in_short_ring(adj), rings_by_cycle_basis(adj), err_msg=name)


def test_enrichment_interval_brackets_the_estimate():
    """Bootstrap interval over crystals: contains the point estimate, and has zero width when every
    crystal is the same."""
    gs = [build_graph(triclinic()), build_graph(rocksalt())]
    atoms, _ = explain_graphs(model(), gs, ["a", "b"])
    stats = importance_statistics(atoms, {"a": gs[0], "b": gs[1]}, n_boot=200)
    for table in stats.values():
        assert (table["enrichment_lo"] <= table["enrichment"] + 1e-12).all()
        assert (table["enrichment"] <= table["enrichment_hi"] + 1e-12).all()
    same, _ = explain_graphs(model(), [gs[1]] * 3, ["x", "y", "z"])
    el = importance_statistics(same, dict.fromkeys(["x", "y", "z"], gs[1]), n_boot=50)["element"]
    np.testing.assert_allclose(el["enrichment_lo"], el["enrichment_hi"], rtol=1e-9)


def test_enrichment_by_seed_collects_each_models_claim_categories():
    """One row per seed and category the claims are about (metal, ring, leaf), copied from each seed's statistics;
    a category a seed lacks is left out, and the figure draws what is there."""
    import pandas as pd

    from aecgcnn.explain import enrichment_by_seed, plot_enrichment_by_seed

    def stats(metal_enrichment, with_leaf=True):
        cols = {"atom_share": 0.1, "importance_share": 0.1 * metal_enrichment, "enrichment": metal_enrichment,
                "enrichment_lo": metal_enrichment - 0.1, "enrichment_hi": metal_enrichment + 0.1, "top1_share": 0.05,
                "crystals": 10}
        motifs = ["ring", "leaf", "other"] if with_leaf else ["ring", "other"]
        return {"metal": pd.DataFrame([{"metal": "metal", **cols}, {"metal": "non-metal", **cols}]),
                "motif": pd.DataFrame([{"motif": m, **cols} for m in motifs])}
    table = enrichment_by_seed({0: stats(0.2), 2: stats(1.3, with_leaf=False)})
    assert list(zip(table["seed"], table["category"])) == [(0, "metal"), (0, "ring"), (0, "leaf"), (2, "metal"),
                                                          (2, "ring")]
    assert table.set_index(["seed", "category"]).loc[(2, "metal"), "enrichment"] == 1.3
    fig = plot_enrichment_by_seed(table, "t")
    assert len(fig.axes) == 2


def test_pooling_concentration_against_its_definition():
    """Uniform weights: normalised entropy 1 and top atom 1x the average; one atom taking almost all: entropy near 0
    and n x max w near n; one-atom crystals are skipped."""
    import pandas as pd

    from aecgcnn.explain import pooling_concentration
    atoms = pd.DataFrame({"id": ["u"] * 4 + ["p"] * 4 + ["one"],
                          "importance": [0.25] * 4 + [1 - 3e-9, 1e-9, 1e-9, 1e-9] + [1.0]})
    c = pooling_concentration(atoms)
    w = np.array([1 - 3e-9, 1e-9, 1e-9, 1e-9])
    assert abs(c["pooling_entropy"] - (1.0 + float(-(w * np.log(w)).sum() / np.log(4))) / 2) < 1e-12
    assert c["top_relative_importance"] == np.median([1.0, 4 * (1 - 3e-9)])
