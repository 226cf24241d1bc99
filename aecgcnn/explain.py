"""Attention as insight: per-atom importance (Eq. 8 pooling weights), neighbour attention summaries,
head-combination weights, exports for VESTA/OVITO, the Figure 3 view, and dataset statistics by
element, metal vs non-metal and local motif (ring / leaf / other), always against base rates.

Importance of atom i in a crystal of n atoms is its pooling weight w_i (Σ_i w_i = 1); ``relative``
importance n·w_i is 1 for a uniform (mean-pooling) model, so > 1 means "attended more than average".
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pymatgen.core import Element

from aecgcnn.errors import InputError
from aecgcnn.checkpoint import load_checkpoint
from aecgcnn.experiment import Experiment, load_datasets, prepare_split
from aecgcnn.figures import save_figure
from aecgcnn.data.batch import collate
from aecgcnn.features import metal_mask
from aecgcnn.graph import CrystalGraph

# covalent radii (Å) for bond perception; elements not listed use 1.5 Å
_COVALENT = {1: 0.31, 5: 0.84, 6: 0.76, 7: 0.71, 8: 0.66, 9: 0.57, 14: 1.11, 15: 1.07, 16: 1.05, 17: 1.02,
             35: 1.20, 53: 1.39}
BOND_TOLERANCE = 0.45  # Å added to the sum of covalent radii
MAX_RING = 8           # cycles up to this length count as rings (longer ones close through periodicity)


@torch.no_grad()
def explain_graphs(model, graphs: list[CrystalGraph], ids: list[str]) -> tuple[pd.DataFrame, dict]:
    """Per-atom attention table for crystals (one forward pass each, eval mode).

    Returns ``(atoms, extra)``: ``atoms`` has one row per atom with id, atom_index, Z, element, x/y/z (Å),
    ``importance`` (pooling weight, sums to 1 per crystal), ``relative_importance`` (n·w), and for each
    layer l and head m ``recv_l{l}_h{m}``: the neighbour attention the atom receives (sum over the edges
    pointing at it of the per-channel-mean weight). ``extra`` has ``prediction`` per id and ``head_weights``
    per id: [layers, heads] mean head-combination weights."""
    model.eval()
    rows, extra = [], {"prediction": {}, "head_weights": {}}
    for g, cid in zip(graphs, ids):
        b = collate([(g, float("nan"), cid)])
        y, attn = model(b, return_attention=True)
        extra["prediction"][cid] = float(model.normalizer.denorm(y)[0])
        n = g.num_atoms
        pool = attn.get("pooling", torch.full((n,), 1.0 / n)).numpy()
        recv = {}
        for layer, w in enumerate(attn.get("neighbor", [])):
            for head in range(w.shape[2]):
                r = torch.zeros(n).index_add_(0, b.neighbors.reshape(-1), w[:, :, head].reshape(-1))
                recv[f"recv_l{layer}_h{head}"] = r.numpy()
        if attn.get("heads"):
            extra["head_weights"][cid] = torch.stack([h.mean(0) for h in attn["heads"]]).numpy()
        for i in range(n):
            z = int(g.atomic_numbers[i])
            rows.append({"id": cid, "atom_index": i, "Z": z, "element": Element.from_Z(z).symbol,
                         "x": float(g.positions[i, 0]), "y": float(g.positions[i, 1]), "z": float(g.positions[i, 2]),
                         "importance": float(pool[i]), "relative_importance": float(pool[i] * n),
                         **{k: float(v[i]) for k, v in recv.items()}})
    return pd.DataFrame(rows), extra


def bond_adjacency(graph: CrystalGraph) -> list[set[int]]:
    """Covalent bonds among a crystal's atoms as adjacency sets (one per atom): d < r_cov(i) + r_cov(j) + 0.45 Å
    among the 12 neighbours; metal–X contacts are not bonds here (coordination bonds would turn every node into a
    ring); an atom bonded to several images of another has one bond to it."""
    z = graph.atomic_numbers.astype(int)
    metal = metal_mask()[z]
    radius = np.array([_COVALENT.get(k, 1.5) for k in z])
    i, k = np.nonzero(graph.mask)
    j = graph.neighbors[i, k].astype(int)
    bond = (j != i) & ~metal[i] & ~metal[j] & (graph.distances[i, k] < radius[i] + radius[j] + BOND_TOLERANCE)
    adj: list[set[int]] = [set() for _ in range(graph.num_atoms)]
    for a, b in zip(i[bond].tolist(), j[bond].tolist()):
        adj[a].add(b)
        adj[b].add(a)
    return adj


def in_short_ring(adj: list[set[int]], max_ring: int = MAX_RING) -> np.ndarray:
    """[n] bool: whether each atom lies on a cycle of at most ``max_ring`` bonds. A bond u–v closes such a cycle
    iff v can be reached from u in ≤ max_ring − 1 bonds without it (a breadth-first search bounded to that depth),
    and the cycle found is marked; an atom is on a short cycle iff one of its bonds is. The same atoms as the
    cycles of length ≤ max_ring of a minimum cycle basis (which span every cycle of at most that length), found by
    local searches instead of a global basis: hundreds of times faster on MOFs, and exact for any graph size."""
    in_ring = np.zeros(len(adj), dtype=bool)
    for u, nbrs in enumerate(adj):
        for v in nbrs:
            if v < u or (in_ring[u] and in_ring[v]):  # each bond once; nothing new to mark
                continue
            parent, frontier, found = {u: -1}, [u], False
            for _ in range(max_ring - 1):
                ahead = []
                for a in frontier:
                    for b in adj[a]:
                        if b in parent or (a == u and b == v):
                            continue
                        parent[b] = a
                        if b == v:
                            found = True
                            break
                        ahead.append(b)
                    if found:
                        break
                if found or not ahead:
                    break
                frontier = ahead
            x = v if found else -1
            while x != -1:  # the cycle: v back to u along the search tree, closed by the bond u-v
                in_ring[x] = True
                x = parent[x]
    return in_ring


def bonded_motifs(graph: CrystalGraph) -> np.ndarray:
    """[n] motif of each atom on the covalent bond graph (:func:`bond_adjacency`): ``ring`` (on a cycle of ≤ 8
    bonds, :func:`in_short_ring`), ``leaf`` (exactly one bond), ``other``."""
    adj = bond_adjacency(graph)
    degree = np.array([len(a) for a in adj])
    return np.where(in_short_ring(adj), "ring", np.where(degree == 1, "leaf", "other"))


def importance_statistics(atoms: pd.DataFrame, graphs: dict[str, CrystalGraph], n_boot: int = 1000,
                          seed: int = 0) -> dict[str, pd.DataFrame]:
    """Importance by element, by metal / non-metal and by motif, each against its base rate.

    For each category: ``atom_share`` (mean over crystals of the fraction of atoms in it: the base rate),
    ``importance_share`` (mean over crystals of the pooling weight it receives), ``enrichment`` =
    importance_share / atom_share (1 = attended as often as it occurs) with ``enrichment_lo`` /
    ``enrichment_hi``, its 95 % interval from ``n_boot`` bootstrap resamples of the crystals, and
    ``top1_share``: how often the most important atom of a crystal is in the category."""
    df = atoms.copy()
    df["metal"] = np.where(metal_mask()[df["Z"].to_numpy(dtype=int)], "metal", "non-metal")
    df["motif"] = np.concatenate([bonded_motifs(graphs[cid]) for cid in df["id"].unique()])
    top = df.loc[df.groupby("id")["importance"].idxmax()]
    rng = np.random.default_rng(seed)
    n_cryst = df["id"].nunique()
    boot = rng.integers(0, n_cryst, size=(n_boot, n_cryst))  # the same resamples for every category
    out = {}
    for key in ("element", "metal", "motif"):
        per = df.groupby(["id", key]).agg(n=("importance", "size"), w=("importance", "sum")).reset_index()
        per["frac"] = per["n"] / per.groupby("id")["n"].transform("sum")
        frac = per.pivot(index="id", columns=key, values="frac").fillna(0.0)  # [crystals, categories]
        weight = per.pivot(index="id", columns=key, values="w").fillna(0.0).loc[frac.index, frac.columns]
        table = pd.DataFrame({"atom_share": frac.mean(), "importance_share": weight.mean(),
                              "crystals": (frac > 0).sum()})
        table["enrichment"] = table["importance_share"] / table["atom_share"]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = weight.to_numpy()[boot].mean(axis=1) / frac.to_numpy()[boot].mean(axis=1)  # [n_boot, categories]
        table["enrichment_lo"] = np.nanpercentile(ratio, 2.5, axis=0)
        table["enrichment_hi"] = np.nanpercentile(ratio, 97.5, axis=0)
        table["top1_share"] = top[key].value_counts(normalize=True).reindex(table.index).fillna(0.0)
        table.index.name = key
        out[key] = table.sort_values("importance_share", ascending=False).reset_index()
    return out


#: the categories the paper's attention claims are about: (statistics table, category)
CLAIM_CATEGORIES = (("metal", "metal"), ("motif", "ring"), ("motif", "leaf"))


def pooling_concentration(atoms: pd.DataFrame) -> dict:
    """How peaked a model's attention pooling is over the crystals of :func:`explain_graphs`' table: the mean over
    crystals (with ≥ 2 atoms) of the normalised entropy −Σ w log w / log n of the pooling weights w [n] (1 = uniform,
    0 = one atom takes all) and the median of n·max w (how many times the average weight the top atom gets)."""
    entropy, top = [], []
    for _, g in atoms.groupby("id"):
        w = g["importance"].to_numpy(dtype=float)
        if len(w) < 2:
            continue
        entropy.append(float(-(w * np.log(np.clip(w, 1e-30, None))).sum() / np.log(len(w))))
        top.append(float(w.max() * len(w)))
    return {"pooling_entropy": float(np.mean(entropy)) if entropy else float("nan"),
            "top_relative_importance": float(np.median(top)) if top else float("nan")}


def enrichment_by_seed(stats_by_seed: dict[int, dict[str, pd.DataFrame]],
                       concentration_by_seed: dict[int, dict] | None = None) -> pd.DataFrame:
    """The evidence of the attention verdicts model by model: one row per (seed, category) of
    :data:`CLAIM_CATEGORIES` present, with ``atom_share``, ``importance_share``, ``enrichment`` and its 95 %
    interval, ``top1_share`` and ``crystals`` from each seed's :func:`importance_statistics`, and that seed's
    :func:`pooling_concentration` when given (the same on each of its rows)."""
    rows = []
    for seed, stats in stats_by_seed.items():
        for table, category in CLAIM_CATEGORIES:
            t = stats[table].set_index(table)
            if category in t.index:
                rows.append({"seed": seed, "category": category, **t.loc[category].to_dict(),
                             **(concentration_by_seed or {}).get(seed, {})})
    return pd.DataFrame(rows)


def plot_enrichment_by_seed(table: pd.DataFrame, title: str = ""):
    """Two panels per category (metal, ring, leaf) with one marker per seed: the enrichment with its 95 % interval
    (1 = no preference), and how often the category holds a crystal's most important atom against its share of
    the atoms (the rate an element-blind weighting would give). ``table``: :func:`enrichment_by_seed`."""
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    categories = list(dict.fromkeys(table["category"]))
    seeds = list(dict.fromkeys(table["seed"]))
    width = 0.6 / max(len(seeds), 1)
    for k, seed in enumerate(seeds):
        t = table[table["seed"] == seed].set_index("category").reindex(categories)
        x = np.arange(len(categories)) + (k - (len(seeds) - 1) / 2) * width
        err = [t["enrichment"] - t["enrichment_lo"], t["enrichment_hi"] - t["enrichment"]]
        left.errorbar(x, t["enrichment"], yerr=err, fmt="o", capsize=3, color=f"C{k}", label=f"seed {seed}")
        right.plot(x, t["top1_share"], "o", color=f"C{k}", label=f"seed {seed}")
    base = table.groupby("category")["atom_share"].mean().reindex(categories)
    right.bar(np.arange(len(categories)), base, width=0.7, color="0.85", label="share of atoms", zorder=0)
    left.axhline(1.0, color="k", lw=0.8, ls="--")
    left.set_ylabel("pooling-weight share / atom share")
    right.set_ylabel("crystals whose top atom is in it")
    for ax in (left, right):
        ax.set_xticks(range(len(categories)), categories)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def explain_test_set(run_dir, entries, n: int | None = None):
    """Explain a finished run's checkpoint (``<run_dir>/checkpoint.pt``) on the first ``n`` (None: all) crystals
    of its own test split, rebuilt from the experiment stored in the checkpoint and ``entries`` (the dataset's
    entries) → (per-atom table and extras of :func:`explain_graphs`, {id: graph} of those crystals)."""
    model, meta = load_checkpoint(Path(run_dir) / "checkpoint.pt")
    exp = Experiment(**{**meta["extra"]["experiment"], "out_dir": None, "save_split_file": False})
    sets, _ = load_datasets(exp, prepare_split(exp, entries), entries)
    test = sets["test"]
    recorded = Path(run_dir) / "test_predictions.csv"
    if recorded.exists():  # the run's own test crystals, or a clear error (e.g. the dataset changed since)
        ids, rebuilt = sorted(pd.read_csv(recorded, usecols=["id"], dtype=str)["id"]), sorted(map(str, test.ids))
        if ids != rebuilt:
            raise InputError(f"{recorded}: the test split rebuilt from the checkpoint ({len(rebuilt)} crystals) is "
                             f"not the run's ({len(ids)}; {len(set(ids) - set(rebuilt))} differ): the dataset "
                             "changed since the run was trained")
    n = len(test) if n is None else min(n, len(test))
    atoms, extra = explain_graphs(model, test.graphs[:n], test.ids[:n])
    return atoms, extra, dict(zip(test.ids[:n], test.graphs[:n]))


def write_extxyz(atoms: pd.DataFrame, graph: CrystalGraph, path) -> Path:
    """Extended XYZ with the lattice and per-atom ``importance`` and ``relative_importance`` columns."""
    path = Path(path)
    lat = " ".join(f"{v:.6f}" for v in graph.lattice.reshape(-1))
    lines = [str(len(atoms)), f'Lattice="{lat}" Properties=species:S:1:pos:R:3:importance:R:1:relative_importance:R:1 pbc="T T T"']
    for r in atoms.itertuples():
        lines.append(f"{r.element} {r.x:.6f} {r.y:.6f} {r.z:.6f} {r.importance:.8f} {r.relative_importance:.6f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_cif(atoms: pd.DataFrame, graph: CrystalGraph, path) -> Path:
    """P1 CIF whose atom_site loop carries ``_atom_site_importance`` (relative importance) per site."""
    from pymatgen.core import Lattice
    path = Path(path)
    lat = Lattice(graph.lattice)
    frac = lat.get_fractional_coords(atoms[["x", "y", "z"]].to_numpy())
    a, b, c = lat.abc
    al, be, ga = lat.angles
    lines = ["data_importance", f"_cell_length_a {a:.5f}", f"_cell_length_b {b:.5f}", f"_cell_length_c {c:.5f}",
             f"_cell_angle_alpha {al:.4f}", f"_cell_angle_beta {be:.4f}", f"_cell_angle_gamma {ga:.4f}",
             "_symmetry_space_group_name_H-M 'P 1'", "loop_", "_symmetry_equiv_pos_as_xyz", "x,y,z", "loop_",
             "_atom_site_label", "_atom_site_type_symbol", "_atom_site_fract_x", "_atom_site_fract_y",
             "_atom_site_fract_z", "_atom_site_importance"]
    for k, r in enumerate(atoms.itertuples()):
        lines.append(f"{r.element}{k} {r.element} {frac[k, 0]:.6f} {frac[k, 1]:.6f} {frac[k, 2]:.6f} "
                     f"{r.relative_importance:.6f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def plot_importance(atoms: pd.DataFrame, graph: CrystalGraph, top_k: int = 3, title: str = "", ax=None):
    """Figure 3 view: the unit cell in 3D, atoms sized and coloured by relative importance, the top-k
    atoms marked, an element legend (marker shape per element)."""
    import matplotlib.pyplot as plt
    if ax is None:
        fig = plt.figure(figsize=(6, 5))
        ax = fig.add_subplot(projection="3d")
    lat = graph.lattice
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]) @ lat
    for a in range(8):
        for b in range(a + 1, 8):
            if bin(a ^ b).count("1") == 1:
                ax.plot(*corners[[a, b]].T, color="0.7", lw=0.6)
    rel = atoms["relative_importance"].to_numpy()
    markers = "osD^v<>ph*"
    elements = list(dict.fromkeys(atoms["element"]))
    sc = None
    for k, el in enumerate(elements):
        sel = (atoms["element"] == el).to_numpy()
        sc = ax.scatter(atoms["x"][sel], atoms["y"][sel], atoms["z"][sel], c=rel[sel], cmap="viridis",
                        vmin=rel.min(), vmax=rel.max(), s=15 + 60 * rel[sel] / rel.max(),
                        marker=markers[k % len(markers)], label=el, edgecolors="k", linewidths=0.2)
    top = np.argsort(-rel)[:top_k]
    ax.scatter(atoms["x"].iloc[top], atoms["y"].iloc[top], atoms["z"].iloc[top], s=250, facecolors="none",
               edgecolors="red", linewidths=1.5, label=f"top {top_k}")
    ax.legend(fontsize=7, loc="upper left")
    ax.figure.colorbar(sc, ax=ax, shrink=0.6, label="relative importance n·w")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    return ax.figure


def write_explanation(atoms: pd.DataFrame, extra: dict, graphs: dict, out, top_k: int = 3, max_figures: int = 10,
                      units: str = "") -> dict:
    """Write what :func:`explain_graphs` found into ``out``: ``atoms.csv``, ``head_weights.csv``,
    ``predictions.csv``, ``structures/<id>.xyz`` and ``<id>_importance.cif`` (importance per atom),
    ``figures/fig3_<id>`` (Figure 3 views of the first ``max_figures``, ``top_k`` atoms marked) and
    ``importance_by_<key>.csv``; ``graphs``: id → CrystalGraph. Returns :func:`importance_statistics`."""
    out = Path(out)
    (out / "structures").mkdir(parents=True, exist_ok=True)
    atoms.to_csv(out / "atoms.csv", index=False)
    heads = [{"id": cid, "layer": layer, "head": head, "weight": float(w[layer, head])}
             for cid, w in extra["head_weights"].items() for layer in range(w.shape[0]) for head in range(w.shape[1])]
    pd.DataFrame(heads).to_csv(out / "head_weights.csv", index=False)
    pd.DataFrame({"id": list(extra["prediction"]), "prediction": list(extra["prediction"].values())}).to_csv(
        out / "predictions.csv", index=False)
    for k, cid in enumerate(graphs):
        sub = atoms[atoms["id"] == cid]
        write_extxyz(sub, graphs[cid], out / "structures" / f"{cid}.xyz")
        write_cif(sub, graphs[cid], out / "structures" / f"{cid}_importance.cif")
        if k < max_figures:
            fig = plot_importance(sub, graphs[cid], top_k, f"{cid}: {extra['prediction'][cid]:.3g} {units}")
            save_figure(fig, f"fig3_{cid}", out / "figures")
            fig.clf()
    stats = importance_statistics(atoms, graphs)
    for key, table in stats.items():
        table.to_csv(out / f"importance_by_{key}.csv", index=False)
    return stats
