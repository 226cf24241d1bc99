"""Batching many crystal graphs into one disjoint graph with a crystal index.

The fixed-width neighbour table makes batching a concatenation: neighbour indices are shifted by the
number of atoms before each crystal. Works on CPU and CUDA (``Batch.to``; ``pin_memory`` supported).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

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
        """B, the number of crystals in the batch."""
        return int(self.num_atoms.shape[0])

    def to(self, device, non_blocking: bool = False) -> "Batch":
        """Copy every tensor to ``device``."""
        kw = {}
        for f in fields(self):
            v = getattr(self, f.name)
            kw[f.name] = v.to(device, non_blocking=non_blocking) if torch.is_tensor(v) else v
        return Batch(**kw)

    def pin_memory(self) -> "Batch":
        """The batch with every tensor in pinned memory (DataLoader ``pin_memory=True``, faster copies to CUDA)."""
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
        """The graphs, targets and ids at positions ``indices``, in that order."""
        return GraphDataset([self.graphs[i] for i in indices], [self.targets[i] for i in indices],
                            [self.ids[i] for i in indices])


def balance_by_atoms(indices: list[int], sizes, parts: int, min_items: int = 1) -> list[list[int]]:
    """Split ``indices`` into ``parts`` groups of nearly equal total atom count (``sizes[i]`` atoms each):
    largest first to the lightest group (LPT), then groups with fewer than ``min_items`` crystals take the
    smallest crystal of the most populated group. Each group keeps the order of ``indices``."""
    groups: list[list[int]] = [[] for _ in range(parts)]
    load = [0] * parts
    for i in sorted(indices, key=lambda i: -int(sizes[i])):
        g = min(range(parts), key=lambda k: (load[k], len(groups[k]), k))
        groups[g].append(i)
        load[g] += int(sizes[i])
    for g in range(parts):
        while len(groups[g]) < min_items:
            donor = max(range(parts), key=lambda k: len(groups[k]))
            if len(groups[donor]) <= min_items:
                break
            smallest = min(groups[donor], key=lambda i: int(sizes[i]))
            groups[donor].remove(smallest)
            groups[g].append(smallest)
    rank_of = {i: k for k, g in enumerate(groups) for i in g}
    ordered: list[list[int]] = [[] for _ in range(parts)]
    for i in indices:
        ordered[rank_of[i]].append(i)
    return ordered


class EpochBatches(Sampler):
    """Batches of dataset positions for one epoch at a time (a ``batch_sampler``).

    The order is ``randperm`` seeded by ``(seed, epoch)`` (``shuffle``) or the dataset order, cut into global
    batches of ``batch_size`` crystals. With ``world_size`` > 1 (data-parallel training) every global batch is
    split among the ranks by atom count (:func:`balance_by_atoms`) and this rank's share is yielded, so the
    ranks together see exactly the batches one process sees. A global batch too small to give every rank
    ``min_per_rank`` crystals is left out (batch norm needs two crystals: training uses 2). Being a function of
    ``(seed, epoch)`` only, the order needs no saved state to resume; call :meth:`set_epoch` before each epoch.
    """

    def __init__(self, sizes, batch_size: int, shuffle: bool = False, seed: int = 0, rank: int = 0,
                 world_size: int = 1, min_per_rank: int = 1):
        self.sizes = np.asarray(sizes)
        self.batch_size, self.shuffle, self.seed = int(batch_size), shuffle, int(seed)
        self.rank, self.world_size, self.min_per_rank = rank, world_size, min_per_rank
        self.epoch = 1

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (1-based) whose order the next iteration yields."""
        self.epoch = int(epoch)

    def global_batches(self) -> list[list[int]]:
        """This epoch's global batches (dataset positions), before the split among ranks."""
        n = len(self.sizes)
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(n, generator=gen).tolist()
        else:
            order = list(range(n))
        least = self.min_per_rank * self.world_size
        return [b for b in (order[s:s + self.batch_size] for s in range(0, n, self.batch_size)) if len(b) >= least]

    def __iter__(self):
        for b in self.global_batches():
            yield b if self.world_size == 1 else \
                balance_by_atoms(b, self.sizes, self.world_size, self.min_per_rank)[self.rank]

    def __len__(self) -> int:
        return len(self.global_batches())


def make_loader(dataset: GraphDataset, batch_size: int = 64, shuffle: bool = False, seed: int = 0,
                device: str | torch.device = "cpu", rank: int = 0, world_size: int = 1,
                min_per_rank: int = 1) -> DataLoader:
    """A DataLoader yielding :class:`Batch` objects from :class:`EpochBatches` (its ``batch_sampler``; call
    ``loader.batch_sampler.set_epoch(e)`` when shuffling); memory pinned when ``device`` is CUDA."""
    sampler = EpochBatches([g.num_atoms for g in dataset.graphs], batch_size, shuffle, seed, rank, world_size,
                           min_per_rank)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate,
                      pin_memory=torch.device(device).type == "cuda")
