"""Applicability domain: how far a crystal is from what a model was trained on.

Three checks, stored in the checkpoint (``checkpoint["domain"]``, plain tensors and numbers) when a model is
trained (or added afterwards by ``aecgcnn domain CHECKPOINT``):

1. **Embedding distance.** The crystal vector a model feeds its readout MLP (``h`` [B, D]: the attention- or
   mean-pooled node features of AE-CGCNN, Eq. 8; GeoCGNN's summed block outputs) is standardised with the training
   crystals' per-dimension mean and standard deviation, and its distance to the training data is the mean Euclidean
   distance to the ``k`` nearest of a stored reference set (at most :data:`aecgcnn.config.DOMAIN_REFERENCE`
   training crystals, drawn at random):

   d(x) = (1/k) Σ_{j ∈ kNN(x)} ‖(h(x) − μ)/σ − r_j‖₂

   The threshold τ is the :data:`aecgcnn.config.DOMAIN_PERCENTILE`-th percentile of d over the validation crystals,
   so about that share of crystals like the validation ones fall inside. Reported: ``domain_distance`` = d/τ
   (≤ 1 inside).
2. **Chemistry.** Elements no training crystal holds (``unseen_elements``): the model never saw their embedding
   being trained.
3. **Bulk range.** Number of atoms in the cell, volume per atom (Å³), density (g/cm³) and the largest pore
   radius (Å, :func:`pore_radius`) outside the central range of the reference crystals (the
   :data:`aecgcnn.config.DOMAIN_RANGE` percentiles: about 1 % of training-like crystals fall outside per
   property; the pore radius is checked against the top only, :data:`UPPER_ONLY`; ``outside_range``, e.g. ``density
   7.87 > 3.12``): a learned embedding can place a structure unlike any training crystal near them (a CoRE MOF
   model embeds bcc Fe among MOFs, an MP formation-energy model embeds MOFs among its crystals), a range cannot.

``in_domain`` = d/τ ≤ 1, no unseen element and no bulk property out of range. An ensemble averages its members' d/τ
and unites their element sets and ranges.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from pymatgen.core import Element

from aecgcnn.config import DOMAIN_K, DOMAIN_PERCENTILE, DOMAIN_RANGE, DOMAIN_REFERENCE
from aecgcnn.data.batch import GraphDataset, make_loader

DISTANCE, UNSEEN, RANGE, INSIDE = "domain_distance", "unseen_elements", "outside_range", "in_domain"
COLUMNS = (DISTANCE, UNSEEN, RANGE, INSIDE)
#: the bulk properties whose training range a domain stores, with their units
BULK = {"n_atoms": "", "volume_per_atom": "Å³", "density": "g/cm³", "pore_radius": "Å"}
#: bulk properties checked against the top of the range only: a pore radius below the training crystals' is denser
#: packing (which the density checks), not a pore the model never saw (a formation-energy model would flag bcc iron)
UPPER_ONLY = ("pore_radius",)
_MASS = np.array([0.0] + [float(Element.from_Z(z).atomic_mass) for z in range(1, 119)])
with warnings.catch_warnings():  # pymatgen warns for the superheavy elements it has no radius of (2 Å taken)
    warnings.simplefilter("ignore")
    _VDW = np.array([0.0] + [float(Element.from_Z(z).van_der_waals_radius or 2.0) for z in range(1, 119)])
_GRID = (np.stack(np.meshgrid(*[np.arange(8)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5) / 8
_IMAGES = np.stack(np.meshgrid(*[[-1, 0, 1]] * 3, indexing="ij"), -1).reshape(-1, 3)


def pore_radius(graph, neighbours: int = 8) -> float:
    """The largest pore radius (Å), coarsely: over a regular 8×8×8 grid of points in the cell, the largest distance
    from a point to the van der Waals surface of its nearest atoms (centre distance minus the atom's van der Waals
    radius, over the 8 nearest centres among the cell and its 26 neighbour images). Negative for dense solids (every
    point is inside an atom's radius), about Di/2 of Zeo++ for porous frameworks, resolution about cell length / 8."""
    from scipy.spatial import cKDTree
    lattice = graph.lattice.astype(np.float64)
    frac = np.linalg.solve(lattice.T, graph.positions.astype(np.float64).T).T % 1.0
    centres = ((frac[None] + _IMAGES[:, None]) @ lattice).reshape(-1, 3)
    radii = np.tile(_VDW[graph.atomic_numbers.astype(int)], len(_IMAGES))
    k = min(neighbours, len(centres))
    dist, idx = cKDTree(centres).query(_GRID @ lattice, k=k)
    dist, idx = dist.reshape(len(_GRID), k), idx.reshape(len(_GRID), k)
    return float((dist - radii[idx]).min(1).max())


def bulk_matrix(graphs) -> np.ndarray:
    """The :data:`BULK` properties of crystal graphs as a matrix [n, P] (columns in :data:`BULK` order)."""
    return np.array([[b[name] for name in BULK] for b in map(bulk_properties, graphs)]).reshape(-1, len(BULK))


def bulk_properties(graph, pore: bool = True) -> dict[str, float]:
    """Number of atoms in the cell, volume per atom (Å³), density (g/cm³; 1 amu/Å³ = 1.66054 g/cm³) and largest pore
    radius (Å, :func:`pore_radius`; left out without ``pore``) of a :class:`aecgcnn.graph.CrystalGraph`."""
    z = graph.atomic_numbers.astype(int)
    volume = abs(float(np.linalg.det(graph.lattice.astype(np.float64))))
    return {"n_atoms": float(len(z)), "volume_per_atom": volume / len(z),
            "density": float(_MASS[z].sum()) / volume * 1.66054, **({"pore_radius": pore_radius(graph)} if pore else {})}


class capture_embeddings:
    """Context manager recording the crystal vectors every model of ``net`` (one model or an ensemble's members)
    feeds its readout MLP, while the caller runs forward passes: ``.rows()`` → one array [n, D] per model, rows in
    the order the crystals went through. Any model with a ``readout`` module (every family of
    :mod:`aecgcnn.models`). ``enabled=False``: records nothing (no hook)."""

    def __init__(self, net, enabled: bool = True):
        self.models = _members(net) if enabled else []
        self.captured: list[list[torch.Tensor]] = [[] for _ in self.models]
        self.hooks = []

    def __enter__(self) -> "capture_embeddings":
        for k, m in enumerate(self.models):
            self.hooks.append(m.readout.register_forward_pre_hook(
                lambda _m, args, k=k: self.captured[k].append(args[0].detach().float().cpu())))
        return self

    def __exit__(self, *exc) -> None:
        for h in self.hooks:
            h.remove()

    def rows(self) -> list[np.ndarray]:
        return [torch.cat(c).numpy() if c else np.zeros((0, 0), np.float32) for c in self.captured]


@torch.no_grad()
def crystal_embeddings(model, dataset: GraphDataset, batch_size: int = 64, device="cpu") -> np.ndarray:
    """The crystal vectors [n, D] ``model`` feeds its readout MLP, one row per item of ``dataset`` (in order)."""
    model.eval()
    with capture_embeddings(model) as cap:
        for batch in make_loader(dataset, batch_size, device=device):
            model(batch.to(device))
    return cap.rows()[0]


def knn_distance(x: np.ndarray, reference: np.ndarray, k: int, exclude_self: bool = False) -> np.ndarray:
    """Mean Euclidean distance [n] from each row of ``x`` [n, D] to its ``k`` nearest rows of ``reference`` [m, D]
    (``exclude_self``: ``x`` is ``reference``; each row's zero distance to itself is skipped)."""
    out = np.empty(len(x))
    r2 = (reference.astype(np.float64) ** 2).sum(1)
    kk = min(k + int(exclude_self), len(reference))
    for s in range(0, len(x), 1024):  # blocks: [1024, m] distances at a time
        xb = x[s:s + 1024].astype(np.float64)
        d2 = np.maximum((xb ** 2).sum(1)[:, None] + r2[None, :] - 2 * xb @ reference.T.astype(np.float64), 0.0)
        part = np.sqrt(np.partition(d2, kk - 1, axis=1)[:, :kk])
        part.sort(axis=1)
        out[s:s + len(xb)] = part[:, int(exclude_self):].mean(1)
    return out


def fit_domain(model, train: GraphDataset, val: GraphDataset, k: int = DOMAIN_K,
               percentile: float = DOMAIN_PERCENTILE, max_reference: int = DOMAIN_REFERENCE, seed: int = 0,
               batch_size: int = 64, device="cpu", train_embeddings: np.ndarray | None = None) -> dict:
    """The domain of a trained ``model`` (a plain dict of tensors and numbers, what checkpoints store): the
    standardisation (``mean``, ``std`` [D]) and ``reference`` [≤ max_reference, D] (float16) from training crystals
    (a random subset of ``max_reference``; all when fewer), ``threshold`` τ (``percentile`` of the validation
    crystals' kNN distance), ``k``, ``elements`` (atomic numbers of every training crystal, not only the subset),
    ``bulk_min`` / ``bulk_max`` (the :data:`aecgcnn.config.DOMAIN_RANGE` percentiles of :data:`BULK` over the
    reference crystals). ``train_embeddings``: the crystal vectors [len(train), D] of every training crystal when
    the caller already has them (a run captures them while it predicts its training set), else computed here."""
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.permutation(len(train))[:max_reference])
    h = (train_embeddings[pick] if train_embeddings is not None
         else crystal_embeddings(model, train.subset(pick.tolist()), batch_size, device))
    mean, std = h.mean(0), h.std(0) + 1e-6
    reference = ((h - mean) / std).astype(np.float16)
    hv = (crystal_embeddings(model, val, batch_size, device) - mean) / std
    d_val = knn_distance(hv, reference.astype(np.float32), k)
    elements = sorted({int(z) for g in train.graphs for z in np.unique(g.atomic_numbers)})
    bulk = bulk_matrix([train.graphs[i] for i in pick])
    return {"version": 1, "mean": torch.from_numpy(mean), "std": torch.from_numpy(std),
            "reference": torch.from_numpy(reference), "k": int(k), "percentile": float(percentile),
            "threshold": float(np.percentile(d_val, percentile)), "elements": torch.tensor(elements),
            "bulk_min": torch.from_numpy(np.percentile(bulk, DOMAIN_RANGE[0], axis=0)),
            "bulk_max": torch.from_numpy(np.percentile(bulk, DOMAIN_RANGE[1], axis=0)), "bulk_percentiles": list(DOMAIN_RANGE),
            "n_train": len(train), "n_val": len(val)}


def domain_summary(domain: dict | None) -> dict:
    """What a model card says of a domain: k, percentile, τ, reference size, number of training elements."""
    if not domain:
        return {}
    return {"k": domain["k"], "percentile": domain["percentile"], "threshold": domain["threshold"],
            "n_reference": int(domain["reference"].shape[0]), "n_train": domain["n_train"],
            "n_val": domain["n_val"], "elements": [Element.from_Z(int(z)).symbol for z in domain["elements"]],
            "bulk_range": {k: [float(domain["bulk_min"][j]), float(domain["bulk_max"][j])] for j, k in enumerate(BULK)},
            "bulk_percentiles": list(domain["bulk_percentiles"])}


def _members(net) -> list:
    return list(getattr(net, "members", [net]))


def has_domain(net) -> bool:
    """Whether every model of ``net`` (one model or an ensemble) carries a fitted domain."""
    return all(getattr(m, "domain", None) for m in _members(net))


def outside(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Per crystal and :data:`BULK` property ([n, P] of ``values`` [n, P]): below ``low`` (except the
    :data:`UPPER_ONLY` properties) or above ``high``."""
    lower = np.array([name not in UPPER_ONLY for name in BULK])
    return ((values < low) & lower) | (values > high)


def _out_of_range(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> str:
    """'density 7.87 > 3.12, ...' for the :data:`BULK` values out of range (:func:`outside`); '' when none is."""
    said, beyond = [], outside(values[None], low, high)[0]
    for j, (name, unit) in enumerate(BULK.items()):
        if beyond[j]:
            bound = f"< {low[j]:.3g}" if values[j] < low[j] else f"> {high[j]:.3g}"
            said.append(f"{name} {values[j]:.3g} {bound}{(' ' + unit) if unit else ''}")
    return ", ".join(said)


def domain_columns(net, embeddings: list[np.ndarray], graphs) -> dict[str, list]:
    """The domain columns (:data:`COLUMNS`) of crystals whose readout inputs ``embeddings`` (one [n, D] per model
    of ``net``, :class:`capture_embeddings`) and ``graphs`` [n] are given, as lists in their order:
    ``domain_distance`` (d/τ; an ensemble: its members' mean), ``unseen_elements`` (symbols joined by spaces),
    ``outside_range`` (bulk properties beyond the training range), both '' when none, and ``in_domain``."""
    scores, seen, lows, highs = [], set(), [], []
    for m, h in zip(_members(net), embeddings):
        dom = m.domain
        h = (h - dom["mean"].numpy()) / dom["std"].numpy()
        scores.append(knn_distance(h, dom["reference"].float().numpy(), dom["k"]) / dom["threshold"])
        seen |= {int(z) for z in dom["elements"]}
        lows.append(dom["bulk_min"].numpy()), highs.append(dom["bulk_max"].numpy())
    score = np.mean(scores, axis=0)
    low, high = np.min(lows, axis=0), np.max(highs, axis=0)
    unseen = [" ".join(Element.from_Z(z).symbol for z in sorted(set(np.unique(g.atomic_numbers).tolist()) - seen))
              for g in graphs]
    beyond = [_out_of_range(values, low, high) for values in bulk_matrix(graphs)]
    return {DISTANCE: score.tolist(), UNSEEN: unseen, RANGE: beyond,
            INSIDE: [bool(s <= 1.0 and not u and not r) for s, u, r in zip(score, unseen, beyond)]}
