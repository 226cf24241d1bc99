"""Ensembles: the same experiment trained from several seeds on one shared split; predictions are the members'
mean with their standard deviation as the uncertainty (training: :func:`aecgcnn.experiment.train_ensemble`).

Folder layout (``aecgcnn train --seeds 0 1 2 3 4 --out ENS``): ``ENS/seed<k>/`` one ordinary run per member,
``ENS/ensemble.json`` (members, shared split, metrics), ``ENS/test_predictions.csv`` (id, target, mean, std),
``ENS/metrics.json``. Every command that takes a checkpoint takes the folder too (``aecgcnn predict ENS ...``).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from aecgcnn.errors import InputError
from aecgcnn.checkpoint import load_checkpoint
from aecgcnn.data.batch import make_loader

MANIFEST = "ensemble.json"


class Ensemble(nn.Module):
    """Members trained on the same task. ``predict(batch)`` → member mean [B] (target units);
    ``predict_with_std(batch)`` → (mean [B], std [B]) with std the members' population standard deviation."""

    kind = "ensemble"

    def __init__(self, members: list[nn.Module], sigma_scale: float = 1.0):
        super().__init__()
        if not members:
            raise InputError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.sigma_scale = float(sigma_scale)  # fitted on validation data (aecgcnn.metrics.sigma_scale); 1: raw

    @torch.no_grad()
    def predict_with_std(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The members' mean [B] and their population standard deviation [B] over M members times
        :attr:`sigma_scale` (the calibrated σ), in target units."""
        preds = torch.stack([m.predict(batch) for m in self.members])  # [M, B]
        return preds.mean(0), preds.std(0, unbiased=False) * self.sigma_scale

    @torch.no_grad()
    def predict(self, batch) -> torch.Tensor:
        """The members' mean prediction [B] in target units."""
        return self.predict_with_std(batch)[0]


@torch.no_grad()
def predict_values(model, batch) -> tuple[list[float], list[float] | None]:
    """A batch's predictions in target units as lists: an ensemble's mean and σ, or one model's values and None
    (every model and ensemble has ``predict_with_std``)."""
    mean, std = model.predict_with_std(batch)
    return mean.cpu().tolist(), (std.cpu().tolist() if std is not None else None)


def is_ensemble(path) -> bool:
    """Whether ``path`` is an ensemble folder (it holds the members' manifest), not a single checkpoint."""
    return (Path(path) / MANIFEST).is_file()


def load_ensemble(folder, device="cpu"):
    """(Ensemble in eval mode, metadata of its first member with ``members``) from an ensemble folder."""
    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    loaded = [load_checkpoint(folder / m, device) for m in manifest["members"]]
    meta = dict(loaded[0][1])
    meta["members"] = manifest["members"]
    meta["sigma_scale"] = manifest.get("sigma_scale", 1.0)  # ensembles made before calibration: raw σ
    return Ensemble([model for model, _ in loaded], meta["sigma_scale"]).to(device).eval(), meta


@torch.no_grad()
def predict_with_std(ensemble: Ensemble, dataset, batch_size: int = 64, device="cpu"):
    """(mean [n], std [n], targets [n]) numpy arrays over a GraphDataset."""
    means, stds, targets = [], [], []
    for batch in make_loader(dataset, batch_size, device=device):
        batch = batch.to(device)
        m, s = ensemble.predict_with_std(batch)
        means.append(m.cpu()), stds.append(s.cpu()), targets.append(batch.target.cpu())
    return torch.cat(means).numpy(), torch.cat(stds).numpy(), torch.cat(targets).numpy()

