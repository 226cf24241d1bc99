"""Training and evaluation loop (paper protocol: Adam lr 1e-3, weight decay 5e-4, 50 epochs, MSE on
normalised targets, the checkpoint with the best validation MAE is the one tested)."""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from aecgcnn.data.batch import GraphDataset, make_loader
from aecgcnn.metrics import regression_metrics


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
    compile: bool = False  # torch.compile the conv layers (worth it from a few epochs of real data on)
    progress: bool = True
    log_path: str | None = None  # append each epoch's history row to this CSV while training (tail -f it)


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> None:
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
def predict_dataset(model, dataset: GraphDataset, batch_size: int = 64, device="cpu", amp: bool = False):
    """Predictions in target units for every item: (predictions [n], targets [n]) as numpy arrays."""
    model.eval()
    preds, targets = [], []
    for batch in make_loader(dataset, batch_size, device=device):
        batch = batch.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type if hasattr(device, "type") else "cpu",
                            dtype=torch.bfloat16, enabled=amp):
            out = model(batch)
        preds.append(model.normalizer.denorm(out.float()).cpu())
        targets.append(batch.target.cpu())
    return torch.cat(preds).numpy(), torch.cat(targets).numpy()


def evaluate(model, dataset: GraphDataset, batch_size: int = 64, device="cpu") -> dict:
    """Regression metrics of the model on a dataset (target units)."""
    p, t = predict_dataset(model, dataset, batch_size, device)
    return regression_metrics(t, p)


def train_model(model, train_set: GraphDataset, val_set: GraphDataset, config: TrainConfig | None = None) -> TrainResult:
    """Train in place; restores the weights of the epoch with the best validation MAE.

    History rows: epoch, train_loss (MSE on normalised targets, averaged over batches), train_mae
    (target units, running), val_loss (normalised MSE), val_mae, val_srcc, seconds.
    """
    cfg = config or TrainConfig()
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    amp = cfg.amp and device.type == "cuda"
    model.to(device)
    if cfg.compile and hasattr(model, "compile_layers"):
        model.compile_layers()
    model.normalizer.fit(torch.tensor(train_set.targets, dtype=torch.float32, device=device))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loader = make_loader(train_set, cfg.batch_size, shuffle=True, seed=cfg.seed, device=device)
    result = TrainResult(device=str(device))
    best_state = None
    start = time.time()
    bar = tqdm(range(1, cfg.epochs + 1), desc=f"training {getattr(model, 'kind', '')}", disable=not cfg.progress)
    for epoch in bar:
        model.train()
        t0 = time.time()
        losses, abs_err, n = [], 0.0, 0
        for batch in loader:
            if batch.num_crystals < 2:  # batch norm needs 2 samples; drop a last batch of one
                continue
            batch = batch.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
                out = model(batch)
            y = model.normalizer.norm(batch.target)
            loss = torch.nn.functional.mse_loss(out.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            abs_err += float((model.normalizer.denorm(out.detach().float()) - batch.target).abs().sum())
            n += batch.num_crystals
        p, t = predict_dataset(model, val_set, cfg.batch_size, device, amp)
        val = regression_metrics(t, p)
        val_loss = float(np.mean(((p - t) / float(model.normalizer.std)) ** 2))
        row = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else float("nan"),
               "train_mae": abs_err / max(n, 1), "val_loss": val_loss, "val_mae": val["mae"],
               "val_srcc": val["srcc"], "seconds": time.time() - t0}
        result.history.append(row)
        if cfg.log_path:
            append_history_row(cfg.log_path, row, fresh=epoch == 1)
        if val["mae"] < result.best_val_mae:
            result.best_val_mae, result.best_epoch = val["mae"], epoch
            best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(train_loss=f"{row['train_loss']:.4f}", val_mae=f"{val['mae']:.4f}")
    if best_state is not None:
        model.load_state_dict(best_state)
    result.seconds = time.time() - start
    return result


def append_history_row(path, row: dict, fresh: bool = False) -> None:
    """Append one history row to a CSV (``fresh``: start the file with a header)."""
    import csv
    with open(path, "w" if fresh else "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        if fresh:
            w.writeheader()
        w.writerow(row)


def config_dict(cfg: TrainConfig) -> dict:
    return asdict(cfg)
