"""Training and evaluation loop (paper protocol: Adam lr 1e-3, weight decay 5e-4, 50 epochs, MSE on
normalised targets, the checkpoint with the best validation MAE is the one tested)."""
from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from aecgcnn import distributed
from aecgcnn.config import COSINE_FLOOR, EDGE_PRECISION, LR_SCHEDULES, PLATEAU_FACTOR, PLATEAU_PATIENCE
from aecgcnn.errors import InputError
from aecgcnn.data.batch import GraphDataset, make_loader
from aecgcnn.metrics import regression_metrics
from aecgcnn.models import fused
from aecgcnn.models.common import CrystalModel
from aecgcnn.safeload import load_pt


@dataclass
class TrainConfig:
    """Optimiser and loop settings. ``device='auto'`` picks CUDA when present; ``amp`` (bf16 autocast)
    only on CUDA. ``batch_size`` 64 (CGCNN default is 256; 64 keeps MOF batches within memory)."""

    epochs: int = 50
    lr: float = 1e-3
    weight_decay: float = 5e-4
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    edge_precision: str = EDGE_PRECISION  # per-edge GEMMs on CPU: bf16 | fp32 (fused.edge_precision)
    compile: bool = False  # torch.compile the conv layers (worth it from a few epochs of real data on)
    progress: bool = True
    log_path: str | None = None  # append each epoch's history row to this CSV while training (tail -f it)
    state_path: str | None = None  # write the full training state here after every epoch (see train_model)
    resume: bool = False  # continue from state_path when it exists
    lr_schedule: str = "constant"  # constant | cosine | plateau (lr_factor)
    warmup_epochs: int = 0  # linear warm-up of the learning rate over the first epochs
    patience: int | None = None  # stop when this many epochs pass without a better validation MAE (epochs: the cap)


def lr_factor(schedule: str, epoch: int, epochs: int, warmup: int = 0, val_maes=()) -> float:
    """The learning rate of ``epoch`` (1-based, of ``epochs``) as a factor of the base rate. Warm-up: e / w for
    e ≤ w = ``warmup``. Then ``constant``: 1; ``cosine``: f + (1 − f)(1 + cos(π t))/2 with t = (e − w − 1) /
    (E − w − 1) and f = :data:`aecgcnn.config.COSINE_FLOOR`; ``plateau``: r^k with r =
    :data:`aecgcnn.config.PLATEAU_FACTOR` and k the number of times the validation MAEs of the epochs before
    (``val_maes``) went :data:`aecgcnn.config.PLATEAU_PATIENCE` epochs without improving (counting restarts after
    each cut). A function of the history only, so a resumed run follows the same rates."""
    if schedule not in LR_SCHEDULES:
        raise InputError(f"lr schedule {schedule!r}: one of {', '.join(LR_SCHEDULES)}")
    if warmup and epoch <= warmup:
        return epoch / warmup
    if schedule == "cosine":
        t = (epoch - warmup - 1) / max(epochs - warmup - 1, 1)
        return COSINE_FLOOR + (1 - COSINE_FLOOR) * (1 + math.cos(math.pi * min(t, 1.0))) / 2
    if schedule == "plateau":
        best, since, cuts = float("inf"), 0, 0
        for mae in list(val_maes)[:epoch - 1]:
            if mae < best:
                best, since = mae, 0
            else:
                since += 1
                if since >= PLATEAU_PATIENCE:
                    cuts, since = cuts + 1, 0
        return PLATEAU_FACTOR ** cuts
    return 1.0


def stopped_early(history: list[dict], best_epoch: int, patience: int | None) -> bool:
    """Whether a run with ``patience`` stops after the last epoch of ``history``: that many epochs without a better
    validation MAE than the best epoch's."""
    return bool(patience) and bool(history) and history[-1]["epoch"] - best_epoch >= patience


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def compile_for_training(model, device, requested: bool = False) -> None:
    """torch.compile the model's layers (``model.compile_layers``) when ``requested``, or by default where that was
    measured faster for training on CPU: models with ``compiles_by_default`` (GeoCGNN). The AE-CGCNN rungs compile
    their own chunk kernels instead (whole-layer compilation measured slower for them). The default follows the
    chunk kernels' switch (:data:`aecgcnn.models.fused.KERNELS`: ``AECGCNN_KERNELS=eager`` keeps everything
    eager, as the test suite does)."""
    if not hasattr(model, "compile_layers"):
        return
    default = (getattr(model, "compiles_by_default", False) and torch.device(device).type == "cpu"
               and fused.KERNELS == "compiled")
    if requested or default:
        model.compile_layers()


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA) and numpy: the model initialisation and the data order of a run."""
    torch.manual_seed(seed)
    np.random.seed(seed)


@dataclass
class TrainResult:
    """Per-epoch history and the best epoch (1-based); the model holds the best weights afterwards."""

    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val_mae: float = float("inf")
    seconds: float = 0.0
    device: str = "cpu"


@torch.no_grad()
def predict_dataset(model, dataset: GraphDataset, batch_size: int = 64, device="cpu", amp: bool = False,
                    edge_precision: str | None = None):
    """Predictions in target units for every item: (predictions [n], targets [n]) as numpy arrays.
    ``edge_precision``: of the per-edge GEMMs (``fp32`` | ``bf16``; None: the current setting)."""
    model.eval()
    with fused.edge_precision(edge_precision):
        return _predict(model, dataset, batch_size, device, amp)


def _predict(model, dataset: GraphDataset, batch_size: int, device, amp: bool):
    preds, targets = [], []
    for batch in make_loader(dataset, batch_size, device=device):
        batch = batch.to(device, non_blocking=True)
        if not isinstance(model, CrystalModel):  # an ensemble: the members' mean
            preds.append(model.predict(batch).float().cpu())
            targets.append(batch.target.cpu())
            continue
        with torch.autocast(device_type=device.type if hasattr(device, "type") else "cpu",
                            dtype=torch.bfloat16, enabled=amp):
            out = model(batch)
        preds.append(model.normalizer.denorm(out.float()).cpu())
        targets.append(batch.target.cpu())
    return torch.cat(preds).numpy(), torch.cat(targets).numpy()


def evaluate(model, dataset: GraphDataset, batch_size: int = 64, device="cpu",
             edge_precision: str | None = None) -> dict:
    """Regression metrics of the model on a dataset (target units); ``edge_precision`` as :func:`predict_dataset`."""
    p, t = predict_dataset(model, dataset, batch_size, device, edge_precision=edge_precision)
    return regression_metrics(t, p)


def train_model(model, train_set: GraphDataset, val_set: GraphDataset, config: TrainConfig | None = None,
                identity: dict | None = None) -> TrainResult:
    """Train in place; restores the weights of the epoch with the best validation MAE.

    History rows: epoch, train_loss (MSE on normalised targets, averaged over batches), train_mae
    (target units, running), val_loss (normalised MSE), val_mae, val_srcc, seconds.

    With ``config.state_path`` the whole training state (weights, optimiser, best weights so far, history, the
    torch / numpy random states, ``identity``) is written there atomically after every epoch, so a killed run
    loses at most one epoch; ``config.resume`` continues from it bit for bit (the data order is a function of
    seed and epoch: the same batches, the same numbers as an uninterrupted run) and may extend ``epochs``.
    ``identity``: what the run is (e.g. the experiment's settings); a saved state of another run is an error,
    never silently continued.

    Under torchrun (:mod:`aecgcnn.distributed`) every rank trains on its atom-balanced share of each global
    batch of ``batch_size`` crystals; the loss is scaled so that DistributedDataParallel's gradient average is
    the gradient of the global batch's mean squared error, as in one process (batch-norm statistics are each
    rank's own). Validation is split over the ranks and gathered; only rank 0 writes the log and the state."""
    cfg = config or TrainConfig()
    ctx = distributed.context()
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    amp = cfg.amp and device.type == "cuda"
    model.to(device)
    compile_for_training(model, device, cfg.compile)
    model.normalizer.fit(torch.tensor(train_set.targets, dtype=torch.float32, device=device))
    net = distributed.wrap_model(model, device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loader = make_loader(train_set, cfg.batch_size, shuffle=True, seed=cfg.seed, device=device, rank=ctx.rank,
                         world_size=ctx.world_size, min_per_rank=2)  # batch norm needs 2 crystals per rank
    log_path = cfg.log_path if ctx.is_main else None
    result = TrainResult(device=str(device))
    best_state = None
    first, spent = 1, 0.0
    if cfg.resume and cfg.state_path and Path(cfg.state_path).exists():
        best_state, first, spent = _load_state(cfg.state_path, identity, model, opt, result)
        if log_path:  # the log may hold rows of an epoch whose state was never written
            for row in result.history:
                append_history_row(log_path, row, fresh=row["epoch"] == 1)
    with fused.edge_precision(cfg.edge_precision):  # the per-edge GEMMs of the whole run, validation included
        start = time.time() - spent
        bar = tqdm(range(first, cfg.epochs + 1), desc=f"training {getattr(model, 'kind', '')}",
                   disable=not (cfg.progress and ctx.is_main), initial=first - 1, total=cfg.epochs)
        for epoch in bar:
            if stopped_early(result.history, result.best_epoch, cfg.patience):
                break  # (a resumed run that had stopped)
            for group in opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(cfg.lr_schedule, epoch, cfg.epochs, cfg.warmup_epochs,
                                                 [r["val_mae"] for r in result.history])
            model.train()
            t0 = time.time()
            loader.batch_sampler.set_epoch(epoch)
            global_sizes = [len(b) for b in loader.batch_sampler.global_batches()]
            # per batch: Σ squared error (normalised), Σ |error|
            sums = torch.zeros(len(global_sizes), 2, dtype=torch.float64)
            for k, (batch, n_global) in enumerate(zip(loader, global_sizes)):
                batch = batch.to(device, non_blocking=True)
                squared, out = train_step(net, model, opt, batch, n_global, ctx.world_size, amp)
                sums[k, 0] = float(squared)
                sums[k, 1] = float((model.normalizer.denorm(out.float()) - batch.target).abs().sum())
            distributed.all_reduce_sum(sums)
            n_seen = sum(global_sizes)
            p, t = _gathered_predictions(model, val_set, cfg.batch_size, device, amp, ctx)
            val = regression_metrics(t, p)
            val_loss = float(np.mean(((p - t) / float(model.normalizer.std)) ** 2))
            train_loss = (sums[:, 0] / torch.tensor(global_sizes, dtype=torch.float64)).mean()
            row = {"epoch": epoch, "train_loss": float(train_loss) if global_sizes else float("nan"),
                   "train_mae": float(sums[:, 1].sum()) / max(n_seen, 1), "val_loss": val_loss, "val_mae": val["mae"],
                   "val_srcc": val["srcc"], "seconds": time.time() - t0}
            result.history.append(row)
            if log_path:
                append_history_row(log_path, row, fresh=epoch == 1)
            if val["mae"] < result.best_val_mae:
                result.best_val_mae, result.best_epoch = val["mae"], epoch
                best_state = copy.deepcopy(model.state_dict())
            bar.set_postfix(train_loss=f"{row['train_loss']:.4f}", val_mae=f"{val['mae']:.4f}")
            if cfg.state_path and ctx.is_main:
                _save_state(cfg.state_path, identity, epoch, model, opt, result, best_state, time.time() - start)
            if stopped_early(result.history, result.best_epoch, cfg.patience):
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.seconds = time.time() - start
    return result


def train_step(net, model, opt, batch, n_global: int, world_size: int = 1, amp: bool = False):
    """One optimiser step on this process's part of a global batch of ``n_global`` crystals → (Σ squared error of
    the normalised targets over this part, outputs [B_local], both detached). ``net``: ``model`` or its
    DistributedDataParallel wrapper. The loss is Σ squared error × ``world_size`` / ``n_global``: DDP averages
    gradients over the ranks, so every step follows the gradient of the global batch's mean squared error (in
    one process: MSE of the batch)."""
    device = batch.target.device
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
        out = net(batch)
    squared = (out.float() - model.normalizer.norm(batch.target)).pow(2).sum()
    opt.zero_grad(set_to_none=True)
    (squared * (world_size / n_global)).backward()
    opt.step()
    return squared.detach(), out.detach()


def _gathered_predictions(model, dataset: GraphDataset, batch_size: int, device, amp: bool, ctx):
    """(predictions, targets) of every item of ``dataset``: each rank predicts every ``world_size``-th item and
    the parts are gathered (one process: :func:`predict_dataset`)."""
    if not ctx.active:
        return predict_dataset(model, dataset, batch_size, device, amp)
    part = dataset.subset(range(ctx.rank, len(dataset), ctx.world_size))
    mine = predict_dataset(model, part, batch_size, device, amp) if len(part) else (np.zeros(0), np.zeros(0))
    parts = distributed.all_gather_objects(mine)
    return np.concatenate([q for q, _ in parts]), np.concatenate([t for _, t in parts])


STATE_FORMAT = 2  # 2: the data order is a function of (seed, epoch); 1 also saved the loader's generator


def _save_state(path, identity, epoch, model, opt, result, best_state, seconds) -> None:
    """The training state after ``epoch``, written to a temporary file and renamed (never half-written)."""
    state = {"format": STATE_FORMAT, "identity": identity, "epoch": epoch, "model": model.state_dict(),
             "optimizer": opt.state_dict(), "best_state": best_state, "best_epoch": result.best_epoch,
             "best_val_mae": result.best_val_mae, "history": result.history, "seconds": seconds,
             "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(),
             "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
    tmp = Path(str(path) + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_state(path, identity, model, opt, result):
    """Restore a state written by :func:`_save_state` → (best weights, first epoch to run, seconds spent).
    A format-1 state (older versions) resumes too, in the current data order."""
    state = load_pt(path, what="training state")
    if state.get("identity") != identity:
        saved, now = state.get("identity") or {}, identity or {}
        diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        raise InputError(f"{path}: the saved training state belongs to another run (differs in {diff}); "
                         "remove it or use another output folder")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    np.random.set_state(state["numpy_rng"])
    if state["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    result.history = state["history"]
    result.best_epoch, result.best_val_mae = state["best_epoch"], state["best_val_mae"]
    return state["best_state"], state["epoch"] + 1, state["seconds"]


def read_history(path) -> list[dict]:
    """The rows of a history CSV written by :func:`append_history_row`, as floats; [] when there is no file. A last
    row still being written (a process appending as it is read) is left out."""
    import csv
    from pathlib import Path
    if not Path(path).exists():
        return []
    rows = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                rows.append({k: float(v) for k, v in row.items()})
            except (TypeError, ValueError):
                break
    return rows


def append_history_row(path, row: dict, fresh: bool = False) -> None:
    """Append one history row to a CSV (``fresh``: start the file with a header)."""
    import csv
    with open(path, "w" if fresh else "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        if fresh:
            w.writeheader()
        w.writerow(row)
