"""The AE-CGCNN model ladder (paper Eqs. 3–8; docs/design-notes.md §2), one configurable module.

Every linear map of z_ijk = v_i ⊕ v_j ⊕ e_ijk is computed as W_i v_i + W_j v_j + W_e e_ijk: node
projections are done once per atom and gathered for the K slots (docs/design-notes.md §6), all heads in one matmul.

Choices the paper leaves open (also in the docs/model-card.md):
- BatchNorm on the z-projection (over valid slots only) and on the aggregated message, and
  v' = g(v + BN(Σ messages)), as the CGCNN reference code does; g = ReLU (paper).
- Eq. 5 Γ = Linear + ReLU with a residual: e' = e + ReLU(W [e ⊕ v_i ⊕ v_j] + b); the CGCNN rung keeps
  the raw Gaussian edge features, the other rungs first embed the edge input to ``edge_hidden`` (42).
- Eq. 6/7 softmaxes are per feature channel, over the valid slots (and heads, Eq. 7) of atom i.
- AttenIII: the 1/M of Eq. 7 becomes a per-atom softmax over heads of a learned scalar score of
  each head's output (``head_combine='attention'``).
- Eq. 8: a_i = w·v_i^L + b from the last layer; c = Σ_i softmax_i(a_i) v_i^L within each crystal.
- C/G: the partial charge is concatenated to the one-hot element before the embedding; the geometric
  edge features are GeoCGNN's radial (64) and plane-wave (64) bases (``geo_features``).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn

from aecgcnn.features import ATOM_FEATURES, atom_feature_table
from aecgcnn.models.common import (MaskedBatchNorm, CrystalModel, check_atomic_numbers, edge_input_fn,
                                   segment_mean, segment_softmax, segment_sum)
from aecgcnn.models import fused
from aecgcnn.models.fused import folded_batchnorm_weights
from aecgcnn.config import CUTOFF

GEO_CHOICES = ("none", "radial", "plane", "radial+plane")


ACTIVATIONS = {"relu": nn.ReLU, "softplus": nn.Softplus}

#: values that keys added after the first release take when an older checkpoint's config lacks them, so an
#: old checkpoint reloads with the behaviour it was trained with
LEGACY = {"atom_features": "onehot", "activation": "relu", "readout_preact": False, "init": "per-part",
          "attention_norm": "joint", "residual": True, "pw_cell": "given"}


@dataclass
class AECGCNNConfig:
    """Constructor configuration (saved in checkpoints). Defaults: the paper's MOF hyper-parameters.

    Options where the paper is silent or where the reference CGCNN code differs (docs/model-card.md):
    ``atom_features`` ``onehot`` (paper: "one-hot encoding of the atomic number") | ``cgcnn`` (CGCNN's
    element properties); ``activation`` ``relu`` (paper: ReLU) | ``softplus`` (reference CGCNN), used in every
    conv layer, the edge update and the readout; ``readout_preact``: apply the activation to the pooled crystal
    vector before the readout MLP (reference CGCNN; a no-op with ReLU, whose node features are already ≥ 0);
    ``init`` ``fused`` (W_i, W_j, W_e drawn as one Linear on z = v_i ⊕ v_j ⊕ e, as "z W" reads and as the
    reference CGCNN's layer is) | ``per-part`` (each initialised by its own fan-in: larger node weights);
    ``attention_norm`` ``joint`` (Eq. 7: softmax over neighbour slots and heads together) | ``per-head``
    (each head's softmax over the slots alone); ``residual``: keep CGCNN's ``v +`` in the attention rungs
    (Eqs. 6-7 do not print it; Eq. 3 does); ``pw_cell``: the cell whose reciprocal lattice (and volume) the
    plane waves use, ``primitive`` (the reduced primitive cell: the same features for any cell or supercell
    of a crystal) | ``given`` (the cell as written in the CIF, GeoCGNN's literal form: a supercell is then
    another input)."""

    n_conv: int = 4
    node_dim: int = 64            # atom embedding / hidden node features
    edge_hidden: int | None = 42  # hidden edge features; None = raw Gaussian edges (CGCNN)
    edge_update: bool = True      # Eq. 4-5
    attention: str = "softmax"    # "gate" (Eq. 3 sigmoid) | "softmax" (Eq. 6)
    n_heads: int = 3              # Eq. 7
    head_combine: str = "attention"  # "mean" (1/M, Eq. 7) | "attention" (AttenIII)
    pooling: str = "attention"    # "mean" | "attention" (Eq. 8)
    use_charges: bool = True
    geo_features: str = "radial+plane"
    fc_hidden: int = 128          # readout MLP 64 -> 128 -> 1
    n_elements: int = 100
    cutoff: float = CUTOFF
    n_radial: int = 64
    pw_grid: int = 4
    atom_features: str = "onehot"   # "onehot" (paper) | "cgcnn"
    activation: str = "relu"        # "relu" (paper) | "softplus" (reference CGCNN)
    readout_preact: bool = True     # activation on the pooled vector before the readout (reference CGCNN)
    init: str = "fused"             # "fused" (one Linear on z, as "z W" reads) | "per-part"
    attention_norm: str = "joint"   # "joint" (Eq. 7) | "per-head"
    residual: bool = True           # v' = g(v + BN(Σ ...)) as Eq. 3 / CGCNN
    pw_cell: str = "primitive"      # "primitive" (cell-independent) | "given" (GeoCGNN's literal form)

    def __post_init__(self):
        checks = {"attention": ("gate", "softmax"), "head_combine": ("mean", "attention"),
                  "pooling": ("mean", "attention"), "geo_features": GEO_CHOICES, "atom_features": ATOM_FEATURES,
                  "activation": tuple(ACTIVATIONS), "init": ("per-part", "fused"),
                  "attention_norm": ("joint", "per-head"), "pw_cell": ("primitive", "given")}
        for key, allowed in checks.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"config {key}={getattr(self, key)!r}: expected one of {allowed}")
        if self.attention == "gate" and self.n_heads != 1:
            raise ValueError("the sigmoid gate (Eq. 3) has one head; use attention='softmax' for n_heads > 1")
        if self.edge_update and self.edge_hidden is None:
            raise ValueError("edge_update needs edge_hidden (the hidden edge width)")

    @classmethod
    def from_dict(cls, d: dict, legacy: bool = False) -> "AECGCNNConfig":
        """Config from a dict; unknown keys are errors. ``legacy``: keys missing from ``d`` that were added
        after the first release take their old behaviour (:data:`LEGACY`), for configs read from checkpoints."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown AE-CGCNN config keys: {sorted(unknown)}")
        return cls(**({**LEGACY, **d} if legacy else d))

    @property
    def edge_in_dim(self) -> int:
        """D, the width of the edge input: 41 Gaussians (0-8 Å step 0.2) + n_radial + pw_grid³ as configured."""
        n_gauss = int(round(self.cutoff / 0.2)) + 1
        return n_gauss + self.n_radial * ("radial" in self.geo_features) + self.pw_grid ** 3 * ("plane" in self.geo_features)


_BASE = dict(edge_update=False, edge_hidden=None, attention="gate", n_heads=1, head_combine="mean",
             pooling="mean", use_charges=False, geo_features="none")
PRESETS: dict[str, dict] = {}
PRESETS["cgcnn"] = dict(_BASE)                                                           # Eq. 3
PRESETS["edge"] = {**PRESETS["cgcnn"], "edge_update": True, "edge_hidden": 42}           # Eq. 4-5
PRESETS["attention"] = {**PRESETS["edge"], "attention": "softmax"}                        # Eq. 6
PRESETS["cg"] = {**PRESETS["attention"], "use_charges": True, "geo_features": "radial+plane"}  # +C/G
PRESETS["atten2"] = {**PRESETS["cg"], "n_heads": 3}                                       # Eq. 7
PRESETS["ae-cgcnn"] = {**PRESETS["atten2"], "head_combine": "attention", "pooling": "attention"}  # AttenIII + Eq. 8
LADDER = list(PRESETS)


def preset_config(name: str, **overrides) -> AECGCNNConfig:
    """Config of a named Table I preset, with optional overrides (e.g. ``geo_features='radial'``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose from {LADDER}")
    return AECGCNNConfig.from_dict({**PRESETS[name], **overrides})


class ConvLayer(nn.Module):
    """One graph-convolution layer: node update (Eq. 3 / 6 / 7 / AttenIII) and edge update (Eq. 4-5)."""

    def __init__(self, cfg: AECGCNNConfig, edge_dim: int, update_edges: bool):
        super().__init__()
        F, M = cfg.node_dim, cfg.n_heads
        self.cfg, self.F, self.M = cfg, F, M
        self.update_edges = update_edges  # the last layer's edge output would be unused
        out = 2 * M * F  # filter (gate / attention logits) and core, for every head
        self.w_self = nn.Linear(F, out, bias=False)
        self.w_nbr = nn.Linear(F, out, bias=False)
        self.w_edge = nn.Linear(edge_dim, out)  # carries the biases b_f, b_s
        self.bn_z = MaskedBatchNorm(out)
        self.bn_out = nn.BatchNorm1d(F)
        self.act = ACTIVATIONS[cfg.activation]()
        if cfg.init == "fused":  # the distribution of one Linear(2F + E, out) on z, as the reference CGCNN
            bound = 1.0 / (2 * F + edge_dim) ** 0.5
            for lin in (self.w_self, self.w_nbr, self.w_edge):
                nn.init.uniform_(lin.weight, -bound, bound)
            nn.init.uniform_(self.w_edge.bias, -bound, bound)
        if cfg.head_combine == "attention" and M > 1:
            self.head_score = nn.Linear(F, 1)
        if update_edges:
            self.e_edge = nn.Linear(edge_dim, edge_dim)
            self.e_self = nn.Linear(F, edge_dim, bias=False)
            self.e_nbr = nn.Linear(F, edge_dim, bias=False)

    #: use the memory-lean path (:mod:`aecgcnn.models.fused`); False = the plain transcription below
    fast = True

    def forward(self, v: torch.Tensor, e: torch.Tensor, nbr: torch.Tensor, mask: torch.Tensor,
                need_weights: bool = True):
        """v [N, F], e [N, K, E], nbr [N, K], mask [N, K] → v' [N, F], e' [N, K, E], attention dict
        (``neighbor`` [N, K, M] channel-averaged neighbour weights when ``need_weights``; ``heads`` [N, M])."""
        if not self.fast:
            return self._forward_plain(v, e, nbr, mask)
        # BN(z W + b) with z W = W_i v_i + W_j v_j + W_e e (docs/design-notes.md §6), folded into the weights;
        # statistics over valid slots
        w_self, w_nbr, w_edge, bias = folded_batchnorm_weights(
            v, e, nbr, mask, self.w_self.weight, self.w_nbr.weight, self.w_edge.weight, self.w_edge.bias, self.bn_z)
        mode = "gate" if self.cfg.attention == "gate" else self.cfg.attention_norm
        heads, weights = fused.edge_attention(torch.addmm(bias, v, w_self.T), v @ w_nbr.T, e.contiguous(), w_edge,
                                             nbr, mask, self.M, mode, self.cfg.activation, need_weights)
        info = {"neighbor": weights} if need_weights else {}  # Eq. 3 / 6 / 7 before the head mix; [N, K, M]
        return self._finish(v, e, nbr, mask, heads, info, fast=True)

    def _forward_plain(self, v, e, nbr, mask):
        """The layer transcribed op by op (reference for the fast path; the equivalence is tested)."""
        N, K = nbr.shape
        M, F = self.M, self.F
        # z W + b = W_i v_i + W_j v_j + W_e e + b  (docs/design-notes.md §6), [N, K, 2MF]
        z = self.w_edge(e)
        z += self.w_self(v).unsqueeze(1)
        z += self.w_nbr(v).index_select(0, nbr.reshape(-1)).view(N, K, -1)
        z = self.bn_z(z, mask)
        filt, core = z.view(N, K, M, 2, F).unbind(dim=3)  # [N, K, M, F] each
        core = self.act(core)  # g(z W_s + b_s)
        m = mask.view(N, K, 1, 1)
        info = {}
        if self.cfg.attention == "gate":  # Eq. 3: σ(z W_c + b_c) ⊙ g(...)
            weights = torch.sigmoid(filt) * m
        elif self.cfg.attention_norm == "joint":  # Eq. 6 (M = 1) / Eq. 7: softmax over slots and heads
            logits = filt.masked_fill(~m, float("-inf")).reshape(N, K * M, F)
            weights = torch.softmax(logits, dim=1).view(N, K, M, F)
        else:  # per-head: each head's softmax over the slots alone
            weights = torch.softmax(filt.masked_fill(~m, float("-inf")), dim=1)
        heads = (weights * core).sum(dim=1)  # [N, M, F]
        info["neighbor"] = weights.mean(dim=-1).detach()  # [N, K, M]
        return self._finish(v, e, nbr, mask, heads, info)

    def _finish(self, v, e, nbr, mask, heads, info, fast: bool = False):
        """Head combination (Eq. 7 / AttenIII), residual + BN + activation, and the edge update (Eq. 4-5)."""
        N, K = nbr.shape
        M = self.M
        if M == 1:
            agg, info["heads"] = heads[:, 0], torch.ones(N, 1, device=v.device)
        elif self.cfg.head_combine == "mean":  # Eq. 7: 1/M Σ_m
            agg, info["heads"] = heads.mean(dim=1), torch.full((N, M), 1.0 / M, device=v.device)
        else:  # AttenIII: per-atom softmax over the M head outputs
            beta = torch.softmax(self.head_score(heads).squeeze(-1), dim=1)  # [N, M]
            agg, info["heads"] = (beta.unsqueeze(-1) * heads).sum(dim=1), beta.detach()
        agg = self.bn_out(agg)
        v_new = self.act(v + agg if self.cfg.residual else agg)  # residual (Eq. 3 "v_i +"), CGCNN-style BN + g
        if self.update_edges and fast:  # Eq. 4-5: e' = e + Γ[e ⊕ v_i ⊕ v_j]
            e = fused.edge_update(torch.addmm(self.e_edge.bias, v, self.e_self.weight.T), v @ self.e_nbr.weight.T,
                                 e.contiguous(), self.e_edge.weight, nbr, mask, self.cfg.activation)
        elif self.update_edges:
            gamma = self.e_edge(e)
            gamma += self.e_self(v).unsqueeze(1)
            gamma += self.e_nbr(v).index_select(0, nbr.reshape(-1)).view(N, K, -1)
            e = e + self.act(gamma)
            e = e * mask.unsqueeze(-1)
        return v_new, e, info


class AECGCNN(CrystalModel):
    """The configurable AE-CGCNN ladder. ``forward(batch)`` → normalised predictions [B];
    ``predict(batch)`` → predictions in target units [B]."""

    kind = "aecgcnn"

    def __init__(self, config: AECGCNNConfig | dict | None = None):
        cfg = config if isinstance(config, AECGCNNConfig) else AECGCNNConfig.from_dict(config or {})
        super().__init__(cfg)
        # node input per element (one-hot Z or CGCNN properties), not saved: rebuilt from the config
        self.register_buffer("atom_table", atom_feature_table(cfg.atom_features, cfg.n_elements), persistent=False)
        self.embed = nn.Linear(self.atom_table.shape[1] + int(cfg.use_charges), cfg.node_dim)  # atom features (+q) -> 64
        edge_dim = cfg.edge_hidden if cfg.edge_hidden is not None else cfg.edge_in_dim
        self.edge_embed = nn.Linear(cfg.edge_in_dim, edge_dim) if cfg.edge_hidden is not None else nn.Identity()
        self.convs = nn.ModuleList([ConvLayer(cfg, edge_dim, cfg.edge_update and k < cfg.n_conv - 1)
                                    for k in range(cfg.n_conv)])
        if cfg.pooling == "attention":
            self.pool_score = nn.Linear(cfg.node_dim, 1)  # a_i of Eq. 8
        act = ACTIVATIONS[cfg.activation]
        self.pre_readout = act() if cfg.readout_preact else nn.Identity()  # on the pooled vector (reference CGCNN)
        self.readout = nn.Sequential(nn.Linear(cfg.node_dim, cfg.fc_hidden), act(), nn.Linear(cfg.fc_hidden, 1))

    def compile_layers(self) -> "AECGCNN":
        """torch.compile the conv layers (one compiled graph shared by all layers, dynamic atom count; a one-off
        compile, then faster training on CPU: docs/performance.md)."""
        fused.exclude_from_outer_compile()
        for conv in self.convs:
            conv.compile(dynamic=True)
        return self

    def embed_inputs(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The inputs of the first conv layer: embedded atom features v [N, node_dim] (atom features, plus the
        partial charge for C/G rungs) and edge features e [N, K, E] (Gaussians, plus the geometric bases,
        embedded to ``edge_hidden`` above the CGCNN rung), zero in padded neighbour slots."""
        cfg = self.config
        check_atomic_numbers(batch.atomic_numbers, cfg.n_elements)
        x = self.atom_table[batch.atomic_numbers - 1]
        if cfg.use_charges:
            x = torch.cat([x, batch.charges.unsqueeze(1)], dim=1)
        features = edge_input_fn(batch, True, cfg.geo_features, cfg.n_radial, cfg.cutoff, cfg.pw_grid,
                                 pw_cell=cfg.pw_cell)
        if cfg.edge_hidden is None:
            e = features(0, batch.distances.shape[0])
        elif all(conv.fast for conv in self.convs):  # in chunks: the [N, K, D] inputs never exist at once
            e = fused.edge_embedding(self.edge_embed.weight, self.edge_embed.bias, features, batch.mask)
        else:  # the embedding's bias would fill padded slots: keep them zero
            e = self.edge_embed(features(0, batch.distances.shape[0])) * batch.mask.unsqueeze(-1)
        return self.embed(x), e

    def forward(self, batch, return_attention: bool = False):
        """batch: :class:`aecgcnn.data.batch.Batch` → normalised predictions [B]
        (and, with ``return_attention``, a dict: ``neighbor`` list of [N, K, M] per layer, ``heads`` list
        of [N, M] per layer, ``pooling`` [N] per-atom weights summing to 1 per crystal)."""
        cfg = self.config
        v, e = self.embed_inputs(batch)
        attn = {"neighbor": [], "heads": []}
        for conv in self.convs:
            v, e, info = conv(v, e, batch.neighbors, batch.mask, need_weights=return_attention)
            attn["neighbor"].append(info.get("neighbor"))
            attn["heads"].append(info["heads"])
        B = batch.num_crystals
        if cfg.pooling == "attention":  # Eq. 8
            w = segment_softmax(self.pool_score(v).squeeze(-1), batch.crystal, B)
            crystal_vec = segment_sum(w.unsqueeze(1) * v, batch.crystal, B)
        else:
            w = 1.0 / batch.num_atoms.to(v.dtype)[batch.crystal]
            crystal_vec = segment_mean(v, batch.crystal, batch.num_atoms)
        out = self.readout(self.pre_readout(crystal_vec)).squeeze(-1)
        if return_attention:
            attn["pooling"] = w.detach()
            return out, attn
        return out
