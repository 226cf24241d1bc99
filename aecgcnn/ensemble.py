"""Ensembles: the same experiment trained from several seeds on one shared split; predictions are the members'
mean with their standard deviation as the uncertainty, and the evaluation says how well that σ is calibrated.

Folder layout (``aecgcnn train --seeds 0 1 2 3 4 --out ENS``): ``ENS/seed<k>/`` one ordinary run per member,
``ENS/ensemble.json`` (members, shared split, metrics), ``ENS/test_predictions.csv`` (id, target, mean, std),
``ENS/metrics.json``. Every command that takes a checkpoint takes the folder too (``aecgcnn predict ENS ...``).
"""
from __future__ import annotations

import csv
import json
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch import nn

from aecgcnn import InputError, distributed
from aecgcnn.data.batch import make_loader
from aecgcnn.metrics import aggregate, calibration, regression_metrics

MANIFEST = "ensemble.json"


class Ensemble(nn.Module):
    """Members trained on the same task. ``predict(batch)`` → member mean [B] (target units);
    ``predict_with_std(batch)`` → (mean [B], std [B]) with std the members' population standard deviation."""

    kind = "ensemble"

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members:
            raise InputError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    @torch.no_grad()
    def predict_with_std(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The members' mean [B] and population standard deviation σ [B] over M members, in target units."""
        preds = torch.stack([m.predict(batch) for m in self.members])  # [M, B]
        return preds.mean(0), preds.std(0, unbiased=False)

    @torch.no_grad()
    def predict(self, batch) -> torch.Tensor:
        """The members' mean prediction [B] in target units."""
        return self.predict_with_std(batch)[0]


@torch.no_grad()
def predict_values(model, batch) -> tuple[list[float], list[float] | None]:
    """A batch's predictions in target units as lists: an ensemble's mean and σ, or one model's values and None."""
    if hasattr(model, "predict_with_std"):
        mean, std = model.predict_with_std(batch)
        return mean.cpu().tolist(), std.cpu().tolist()
    return model.predict(batch).cpu().tolist(), None


def is_ensemble(path) -> bool:
    """Whether ``path`` is an ensemble folder (it holds the members' manifest), not a single checkpoint."""
    return (Path(path) / MANIFEST).is_file()


def load_ensemble(folder, device="cpu"):
    """(Ensemble in eval mode, metadata of its first member with ``members``) from an ensemble folder."""
    from aecgcnn.checkpoint import load_checkpoint
    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    loaded = [load_checkpoint(folder / m, device) for m in manifest["members"]]
    meta = dict(loaded[0][1])
    meta["members"] = manifest["members"]
    return Ensemble([model for model, _ in loaded]).to(device).eval(), meta


@torch.no_grad()
def predict_with_std(ensemble: Ensemble, dataset, batch_size: int = 64, device="cpu"):
    """(mean [n], std [n], targets [n]) numpy arrays over a GraphDataset."""
    means, stds, targets = [], [], []
    for batch in make_loader(dataset, batch_size, device=device):
        batch = batch.to(device)
        m, s = ensemble.predict_with_std(batch)
        means.append(m.cpu()), stds.append(s.cpu()), targets.append(batch.target.cpu())
    return torch.cat(means).numpy(), torch.cat(stds).numpy(), torch.cat(targets).numpy()


def train_ensemble(exp, seeds: list[int], entries=None) -> dict:
    """Train ``exp`` once per seed into ``exp.out_dir/seed<k>`` on one shared split (``exp.split_seed``, default
    the first seed: every member is tested on crystals none of them trained on), then test the ensemble: the
    members' mean and σ, regression metrics and :func:`aecgcnn.metrics.calibration`. Members that finished
    before are reused and interrupted ones resumed (:func:`aecgcnn.experiment.run_or_load`)."""
    from aecgcnn.data.datasets import load_entries
    from aecgcnn.experiment import evaluation_set, run_or_load
    from aecgcnn.provenance import stamp
    from aecgcnn.train import resolve_device
    if not exp.out_dir:
        raise InputError("an ensemble needs an output folder (--out)")
    out = Path(exp.out_dir)
    split_seed = seeds[0] if exp.split_seed is None else exp.split_seed
    base = replace(exp, split_seed=split_seed)
    entries = entries if entries is not None else load_entries(exp.dataset, exp.data_dir)
    members = []
    for s in seeds:
        m = run_or_load(replace(base, seed=s, out_dir=str(out / f"seed{s}")), entries)
        members.append({"seed": s, "path": f"seed{s}/checkpoint.pt", "test": m["test"]})
    if not distributed.context().is_main:  # under torchrun rank 0 tests the ensemble and writes its files
        return distributed.broadcast_object(None)
    (out / MANIFEST).write_text(json.dumps({"members": [m["path"] for m in members], "seeds": list(seeds),
                                            "split_seed": split_seed}, indent=2))
    device = resolve_device(exp.device)
    ensemble, meta = load_ensemble(out, device)
    _, test = evaluation_set(meta, "test", data_dir=exp.data_dir, cache_dir=exp.cache_dir, entries=entries)
    mean, std, target = predict_with_std(ensemble, test, device=device)
    metrics = {"test": regression_metrics(target, mean), "calibration": calibration(target, mean, std),
               "members": members, "member_test": aggregate([m["test"] for m in members]),
               "experiment": asdict(base), "seeds": list(seeds), "units": meta.get("units", ""),
               "provenance": stamp(device)}
    with open(out / "test_predictions.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "target", "prediction", "std"])
        w.writerows(zip(test.ids, target.tolist(), mean.tolist(), std.tolist()))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return distributed.broadcast_object(metrics)
