"""Small building blocks shared by the models: masked batch norm, segment softmax / mean over crystals,
the target normaliser, and input features of a batch."""
from __future__ import annotations

from dataclasses import asdict

import torch
from torch import nn

from aecgcnn.features import gaussian_expansion, geo_radial_basis, plane_wave_basis
from aecgcnn.config import CUTOFF


class MaskedBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the last dim of x [..., C], with statistics over the valid entries only
    (mask [...] bool; None = all valid), so padded neighbour slots change nothing. Padded entries of
    the output are not zeroed: callers mask them. Computed with weighted sums rather than boolean
    indexing (two passes over x instead of five)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x [..., C] normalised per channel; in training, batch statistics over the entries where ``mask`` [...]
        is True (running statistics updated from them), in eval the running statistics."""
        if mask is None:
            return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)
        s1 = s2 = count = None
        if self.training:
            dims = tuple(range(x.dim() - 1))
            w = mask.unsqueeze(-1).to(x.dtype)
            count = w.sum()
            xw = x * w
            s1, s2 = xw.sum(dims), (xw * x).sum(dims)
        scale, shift = self.scale_shift(s1, s2, count)
        return torch.addcmul(shift, x, scale)

    def scale_shift(self, s1: torch.Tensor | None, s2: torch.Tensor | None, count: torch.Tensor | None):
        """(scale [C], shift [C]) with BN(x) = x · scale + shift. Training: from the batch's per-channel Σx (s1),
        Σx² (s2) over ``count`` valid rows, updating the running statistics (unbiased variance, as BatchNorm1d);
        eval: from the running statistics (the sums are ignored)."""
        if self.training:
            mean = s1 / count
            var = (s2 / count - mean ** 2).clamp(min=0.0)
            with torch.no_grad():
                unbiased = var * count / (count - 1).clamp(min=1)
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(unbiased.detach(), self.momentum)
                self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var
        scale = self.weight * torch.rsqrt(var + self.eps)
        return scale, self.bias - mean * scale


def segment_softmax(scores: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Softmax of ``scores`` [N] within each segment (crystal) given by ``segment`` [N] → [N]."""
    seg_max = torch.full((num_segments,), float("-inf"), device=scores.device, dtype=scores.dtype)
    seg_max = seg_max.scatter_reduce(0, segment, scores, reduce="amax", include_self=True)
    exp = torch.exp(scores - seg_max[segment])
    denom = torch.zeros(num_segments, device=scores.device, dtype=scores.dtype).index_add_(0, segment, exp)
    return exp / denom[segment]


def segment_sum(x: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Sum rows of ``x`` [N, C] per segment → [num_segments, C]."""
    return torch.zeros(num_segments, x.shape[1], device=x.device, dtype=x.dtype).index_add_(0, segment, x)


def segment_mean(x: torch.Tensor, segment: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Mean of rows of ``x`` [N, C] per segment; counts [S] atoms per segment → [S, C]."""
    return segment_sum(x, segment, counts.shape[0]) / counts.to(x.dtype).unsqueeze(1)


def check_atomic_numbers(z: torch.Tensor, n_elements: int) -> None:
    """Raise when an atomic number in z [N] exceeds the model's ``n_elements``."""
    if not torch.compiler.is_compiling() and int(z.max()) > n_elements:
        raise ValueError(f"atomic number {int(z.max())} exceeds the model's n_elements={n_elements}")


def one_hot_z(z: torch.Tensor, n_elements: int) -> torch.Tensor:
    """One-hot atomic numbers: z [N] (1..n_elements) → float [N, n_elements]."""
    check_atomic_numbers(z, n_elements)
    return nn.functional.one_hot(z - 1, n_elements).float()


def edge_input_fn(batch, gaussian: bool = True, geo_features: str = "none", n_radial: int = 64,
                  cutoff: float = CUTOFF, pw_grid: int = 4, pw_cell: str = "given"):
    """A function (s, t) → the concatenated edge input features of atoms s..t-1 of the batch [t−s, K, D], zero in
    padded slots, computed on the batch's device (so callers can work through a large batch in chunks).

    gaussian: the 41 CGCNN Gaussians of the distance; geo_features: ``none`` | ``radial`` | ``plane`` |
    ``radial+plane`` (GeoCGNN radial basis [64] and plane-wave basis [pw_grid³]); pw_cell: ``given`` (plane
    waves on the cell as written) | ``primitive`` (on the reduced primitive cell, ``batch.pw_lattice``)."""
    lattice = batch.pw_lattice if pw_cell == "primitive" else batch.lattice

    def features(s: int, t: int) -> torch.Tensor:
        """Edge inputs [t − s, K, D] of atoms s..t−1 of the batch, zero in padded slots."""
        parts = []
        d = batch.distances[s:t]
        if gaussian:
            parts.append(gaussian_expansion(d, 0.0, cutoff))
        if "radial" in geo_features:
            parts.append(geo_radial_basis(d, n_radial, cutoff))
        if "plane" in geo_features:
            parts.append(plane_wave_basis(batch.vectors[s:t], lattice, batch.crystal[s:t], pw_grid))
        return torch.cat(parts, dim=-1) * batch.mask[s:t].unsqueeze(-1)
    return features


def edge_inputs(batch, gaussian: bool = True, geo_features: str = "none", n_radial: int = 64,
                cutoff: float = CUTOFF, pw_grid: int = 4, pw_cell: str = "given") -> torch.Tensor:
    """Concatenated edge input features [N, K, D] of the whole batch (see :func:`edge_input_fn`)."""
    return edge_input_fn(batch, gaussian, geo_features, n_radial, cutoff, pw_grid, pw_cell)(0, batch.distances.shape[0])


class TargetNormalizer(nn.Module):
    """(y − mean) / std with statistics of the training targets, stored as buffers (saved in checkpoints)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))

    def fit(self, y: torch.Tensor) -> "TargetNormalizer":
        """Take mean and std of the training targets y [n] (std 1 for a single or constant target)."""
        self.mean.fill_(float(y.mean()))
        self.std.fill_(float(y.std()) if y.numel() > 1 and float(y.std()) > 0 else 1.0)
        return self

    def norm(self, y: torch.Tensor) -> torch.Tensor:
        """Targets in their units → normalised (same shape)."""
        return (y - self.mean) / self.std

    def denorm(self, y: torch.Tensor) -> torch.Tensor:
        """Normalised predictions → target units (same shape)."""
        return y * self.std + self.mean


class CrystalModel(nn.Module):
    """The interface every model family shares (the trainer, checkpoints, predict, screen and explain use only
    this): ``kind`` (the name checkpoints record), ``config`` (a dataclass, saved in checkpoints), ``normalizer``
    (target statistics, saved with the weights), ``forward(batch, return_attention=False)`` → normalised
    predictions [B] (with ``return_attention``, also a dict of attention tensors, empty when the family has none),
    ``predict(batch)`` → predictions in target units [B], ``predict_with_std(batch)`` → (predictions, None: one
    model has no spread; :class:`aecgcnn.ensemble.Ensemble` returns its members' σ there), ``config_dict()``."""

    kind = ""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.normalizer = TargetNormalizer()

    def config_dict(self) -> dict:
        """The model's configuration as a plain dict (what checkpoints store and models are rebuilt from)."""
        return asdict(self.config)

    @torch.no_grad()
    def predict(self, batch) -> torch.Tensor:
        """Predictions in target units [B] (eval mode is the caller's choice)."""
        return self.normalizer.denorm(self.forward(batch))

    @torch.no_grad()
    def predict_with_std(self, batch) -> tuple[torch.Tensor, None]:
        """(:meth:`predict`, None): the interface an ensemble shares, where the second item is the members' σ."""
        return self.predict(batch), None
