"""Batching many crystal graphs into one disjoint graph with a crystal index.

The fixed-width neighbour table makes batching a concatenation: neighbour indices are shifted by the
number of atoms before each crystal. Works on CPU and CUDA (``Batch.to``; ``pin_memory`` supported).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from aecgcnn.graph import CrystalGraph


@dataclass
class Batch:
    """B crystals, N atoms in total, K neighbour slots.

    Attributes:
        atomic_numbers: long [N]; neighbors: long [N, K] (batch-global indices);
        distances: float [N, K] Å; mask: bool [N, K]; vectors: float [N, K, 3] Å;
        charges: float [N] (e; zeros where a crystal has none); has_charges: bool [B];
        crystal: long [N] crystal index of each atom; num_atoms: long [B];
        lattice: float [B, 3, 3] Å; pw_lattice: float [B, 3, 3] Å, the reduced primitive cells (graph
        ``pw_lattice``); target: float [B] (nan when unknown); ids: list of B ids.
    """

    atomic_numbers: torch.Tensor
    neighbors: torch.Tensor
    distances: torch.Tensor
    mask: torch.Tensor
    vectors: torch.Tensor
    charges: torch.Tensor
    has_charges: torch.Tensor
    crystal: torch.Tensor
    num_atoms: torch.Tensor
    lattice: torch.Tensor
    pw_lattice: torch.Tensor
    target: torch.Tensor
    ids: list

    @property
    def num_crystals(self) -> int:
        return int(self.num_atoms.shape[0])

    def to(self, device, non_blocking: bool = False) -> "Batch":
        """Copy every tensor to ``device``."""
        kw = {}
        for f in fields(self):
            v = getattr(self, f.name)
            kw[f.name] = v.to(device, non_blocking=non_blocking) if torch.is_tensor(v) else v
        return Batch(**kw)

    def pin_memory(self) -> "Batch":
        kw = {f.name: (getattr(self, f.name).pin_memory() if torch.is_tensor(getattr(self, f.name))
                       else getattr(self, f.name)) for f in fields(self)}
        return Batch(**kw)


def collate(items: list[tuple[CrystalGraph, float, str]]) -> Batch:
    """Concatenate ``(graph, target, id)`` triples into a :class:`Batch`."""
    graphs = [g for g, _, _ in items]
    sizes = np.array([g.num_atoms for g in graphs])
    shifts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    cat = np.concatenate
    charges = cat([g.charges if g.charges is not None else np.zeros(g.num_atoms, np.float32) for g in graphs])
    return Batch(
        atomic_numbers=torch.from_numpy(cat([g.atomic_numbers for g in graphs]).astype(np.int64)),
        neighbors=torch.from_numpy(cat([g.neighbors.astype(np.int64) + s for g, s in zip(graphs, shifts)])),
        distances=torch.from_numpy(cat([g.distances for g in graphs])),
        mask=torch.from_numpy(cat([g.mask for g in graphs])),
        vectors=torch.from_numpy(cat([g.vectors for g in graphs])),
        charges=torch.from_numpy(charges.astype(np.float32)),
        has_charges=torch.tensor([g.charges is not None for g in graphs]),
        crystal=torch.from_numpy(np.repeat(np.arange(len(graphs)), sizes)),
        num_atoms=torch.from_numpy(sizes.astype(np.int64)),
        lattice=torch.from_numpy(np.stack([g.lattice for g in graphs])),
        pw_lattice=torch.from_numpy(np.stack([g.lattice if g.pw_lattice is None else g.pw_lattice for g in graphs])),
        target=torch.tensor([float(t) for _, t, _ in items], dtype=torch.float32),
        ids=[i for _, _, i in items],
    )


class GraphDataset(Dataset):
    """Graphs with targets and ids, indexable by position."""

    def __init__(self, graphs: list[CrystalGraph], targets=None, ids=None):
        self.graphs = list(graphs)
        self.targets = [float("nan")] * len(graphs) if targets is None else [float(t) for t in targets]
        self.ids = [str(i) for i in range(len(graphs))] if ids is None else [str(i) for i in ids]

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, i):
        return self.graphs[i], self.targets[i], self.ids[i]

    def subset(self, indices) -> "GraphDataset":
        return GraphDataset([self.graphs[i] for i in indices], [self.targets[i] for i in indices],
                            [self.ids[i] for i in indices])


def make_loader(dataset: GraphDataset, batch_size: int = 64, shuffle: bool = False, seed: int = 0,
                device: str | torch.device = "cpu") -> DataLoader:
    """A DataLoader yielding :class:`Batch` objects (memory pinned when ``device`` is CUDA)."""
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate, generator=gen,
                      pin_memory=torch.device(device).type == "cuda")
