"""GeoCGNN baseline (Cheng, Zhang & Dong, Commun. Mater. 2, 92 (2021)), re-implemented from the
description in docs/design-notes.md §3 on our graph pipeline.

Deviations from the published code (https://github.com/Tinystormjojo/geo-CGNN; docs/model-card.md, where
``benchmarks/reference_geocgnn.py`` trains both on one split): padded neighbour slots are masked from the batch-norm
statistics as well as from the messages (the original fills them with atom 0 at the cutoff distance, masked from the
messages only); the readout's last layer has a bias and the targets are normalised (the original: no bias, raw
targets); the last block's W_psi transform, whose output nothing reads, is left out.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn

from aecgcnn.features import geo_radial_basis, plane_wave_basis
from aecgcnn.models.common import MaskedBatchNorm, CrystalModel, one_hot_z, segment_sum
from aecgcnn.config import CUTOFF


@dataclass
class GeoCGNNConfig:
    """Constructor configuration; defaults are the published command (N = 5 blocks, H = 192)."""

    n_blocks: int = 5
    hidden: int = 192
    n_radial: int = 64
    pw_grid: int = 4
    cutoff: float = CUTOFF
    n_elements: int = 100
    use_plane_waves: bool = True

    @classmethod
    def from_dict(cls, d: dict) -> "GeoCGNNConfig":
        """The config of a saved dict (``config_dict``); unknown keys are errors."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown GeoCGNN config keys: {sorted(unknown)}")
        return cls(**d)


class GeoBlock(nn.Module):
    """Gated message with the geometric mask, then gated sum pooling and the node transform."""

    def __init__(self, cfg: GeoCGNNConfig, transform_nodes: bool = True):
        super().__init__()
        H, Q = cfg.hidden, cfg.pw_grid ** 3
        self.transform_nodes = transform_nodes  # the last block's x <- ELU(BN(W_psi x)) would be unused
        self.use_pw = cfg.use_plane_waves
        # W [x_i ⊕ x_j ⊕ (x_i − x_j)/d] for gate and core together, split per atom (docs/design-notes.md §6):
        # = A x_i + B x_j + (C x_i − C x_j)/d, so only [N, H] matmuls are needed
        self.w_i = nn.Linear(H, 2 * H, bias=False)
        self.w_j = nn.Linear(H, 2 * H, bias=False)
        self.w_d = nn.Linear(H, 2 * H, bias=False)
        self.bn_gate, self.bn_core = MaskedBatchNorm(H), MaskedBatchNorm(H)
        self.w_radial = nn.Linear(cfg.n_radial, H, bias=False)
        if self.use_pw:
            self.w_pw = nn.Linear(Q, H, bias=False)
            self.w_pw_gate = nn.Linear(Q, Q, bias=False)
            self.bn_pw = MaskedBatchNorm(Q)
        self.w_a, self.w_b = nn.Linear(H, H, bias=False), nn.Linear(H, H, bias=False)
        self.bn_a = nn.BatchNorm1d(H)
        if transform_nodes:
            self.w_psi = nn.Linear(H, H, bias=False)
            self.bn_psi = nn.BatchNorm1d(H)
        self.elu = nn.ELU()

    def forward(self, x, radial, pw, dist, nbr, mask, crystal, n_crystals):
        """One block. x [N, H] atom vectors; radial [N, K, n_radial] and pw [N, K, Q] (or None) edge bases; dist
        [N, K] neighbour distances (Å); nbr [N, K] neighbour atom indices; mask [N, K] bool (valid slots); crystal
        [N] each atom's crystal; n_crystals B. Returns (x' [N, H]: the block's atom vectors, after W_ψ unless it is
        the last block; p_t [B, H]: its gated sum pooling)."""
        N, K = nbr.shape
        flat = nbr.reshape(-1)
        pd = self.w_d(x)
        inv_d = 1.0 / dist.clamp(min=1e-6).unsqueeze(-1)
        z = (pd.unsqueeze(1) - pd.index_select(0, flat).view(N, K, -1)) * inv_d
        z += self.w_i(x).unsqueeze(1)
        z += self.w_j(x).index_select(0, flat).view(N, K, -1)  # [N, K, 2H]
        z_gate, z_core = z.chunk(2, dim=-1)
        gate = torch.sigmoid(self.bn_gate(z_gate, mask))
        core = self.elu(self.bn_core(z_core, mask))
        geo = self.w_radial(radial)  # m = W1 G + W2 (P ⊙ σ(BN(Wp P)))
        if self.use_pw:
            geo = geo + self.w_pw(pw * torch.sigmoid(self.bn_pw(self.w_pw_gate(pw), mask)))
        msg = gate * core * geo * mask.unsqueeze(-1)
        x = x + msg.sum(dim=1)
        pooled = segment_sum(self.elu(self.bn_a(self.w_a(x))) * self.w_b(x), crystal, n_crystals)  # p_t
        if self.transform_nodes:
            x = self.elu(self.bn_psi(self.w_psi(x)))
        return x, pooled


class GeoCGNN(CrystalModel):
    """GeoCGNN: ``forward(batch)`` → normalised predictions [B]; ``predict`` → target units."""

    kind = "geocgnn"
    #: training compiles the blocks (aecgcnn.train.compile_for_training): op by op every block materialises
    #: [atoms, 12, 2H] several times; compiled, it trains faster (docs/performance.md)
    compiles_by_default = True

    def __init__(self, config: GeoCGNNConfig | dict | None = None):
        cfg = config if isinstance(config, GeoCGNNConfig) else GeoCGNNConfig.from_dict(config or {})
        super().__init__(cfg)
        H = cfg.hidden
        self.embed = nn.Linear(cfg.n_elements, H, bias=False)  # x0 = σ(W_e onehot)
        self.blocks = nn.ModuleList([GeoBlock(cfg, t < cfg.n_blocks - 1) for t in range(cfg.n_blocks)])
        self.readout = nn.Sequential(
            nn.Linear(H, H // 2), nn.BatchNorm1d(H // 2), nn.ELU(),
            nn.Linear(H // 2, H // 4), nn.BatchNorm1d(H // 4), nn.ELU(),
            nn.Linear(H // 4, 1))

    def compile_layers(self) -> "GeoCGNN":
        """torch.compile every block (dynamic atom count); the last block differs, so two graphs compile."""
        for block in self.blocks:
            block.compile(dynamic=True)
        return self

    def forward(self, batch, return_attention: bool = False):
        """Normalised predictions [B] of a :class:`aecgcnn.data.batch.Batch` of B crystals (``(predictions, {})``
        with ``return_attention``: GeoCGNN has no attention)."""
        cfg = self.config
        x = torch.sigmoid(self.embed(one_hot_z(batch.atomic_numbers, cfg.n_elements)))
        mask = batch.mask & (batch.distances < cfg.cutoff)
        radial = geo_radial_basis(batch.distances, cfg.n_radial, cfg.cutoff)
        pw = plane_wave_basis(batch.vectors, batch.lattice, batch.crystal, cfg.pw_grid) if cfg.use_plane_waves else None
        B = batch.num_crystals
        total = 0
        for block in self.blocks:
            x, pooled = block(x, radial, pw, batch.distances, batch.neighbors, mask, batch.crystal, B)
            total = total + pooled  # crystal vector = Σ_t p_t
        out = self.readout(total).squeeze(-1)
        return (out, {}) if return_attention else out
