"""Self-contained checkpoints: model kind + constructor config + weights + target normaliser (inside
the weights) + graph settings + dataset name/target/units + package version, so ``predict`` needs
nothing else."""
from __future__ import annotations

from pathlib import Path

import torch

from aecgcnn.errors import InputError
from aecgcnn.version import __version__
from aecgcnn.graph import GraphSettings
from aecgcnn.models import build_model
from aecgcnn.config import LEGACY_EDGE_PRECISION
from aecgcnn.safeload import load_pt


def save_checkpoint(path, model, graph_settings: GraphSettings, dataset: str = "", target: str = "",
                    units: str = "", extra: dict | None = None, domain: dict | None = None) -> Path:
    """Write a checkpoint file and return its path. ``domain``: the model's applicability domain
    (:func:`aecgcnn.domain.fit_domain`; default: the one the model carries, if any)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "format": 1, "package_version": __version__, "kind": model.kind, "config": model.config_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "graph_settings": graph_settings.to_dict(), "dataset": dataset, "target": target, "units": units,
        "extra": extra or {}, "domain": domain if domain is not None else getattr(model, "domain", None),
    }, path)
    return path


def load_checkpoint(path, device="cpu"):
    """Rebuild one model from a checkpoint file or a run folder (its ``checkpoint.pt``): returns ``(model in eval
    mode, metadata dict)``. Weights and plain data only (:func:`aecgcnn.safeload.load_pt`). Ensembles and shipped
    models by name: :func:`aecgcnn.api.load_model`."""
    return model_from_checkpoint(read_checkpoint(path)[1], device)


def read_checkpoint(path) -> tuple[Path, dict]:
    """(the checkpoint file, its contents as saved, on the CPU) of a checkpoint file or a run folder; an
    :class:`InputError` when there is none or it is not an aecgcnn checkpoint."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.exists():
        raise InputError(f"{path}: checkpoint not found")
    ckpt = load_pt(path, map_location="cpu", what="aecgcnn checkpoint")
    if not isinstance(ckpt, dict) or "kind" not in ckpt or "config" not in ckpt:
        raise InputError(f"{path}: not an aecgcnn checkpoint (no model kind / config)")
    return path, ckpt


def model_from_checkpoint(ckpt: dict, device="cpu"):
    """(model in eval mode on ``device``, metadata dict) of a checkpoint's contents (:func:`read_checkpoint`)."""
    model = build_model(ckpt["kind"], ckpt["config"], legacy=True)
    model.load_state_dict(ckpt["state_dict"])
    model.to(device).eval()
    model.domain = ckpt.get("domain")  # None: saved before domains existed (``aecgcnn domain`` adds one)
    meta = {k: v for k, v in ckpt.items() if k not in ("state_dict", "domain")}
    meta["graph_settings"] = GraphSettings(**ckpt["graph_settings"])
    return model, meta


def trained_edge_precision(meta: dict) -> str:
    """The ``edge_precision`` a checkpoint's model was trained with (``fp32`` | ``bf16``; ``fp32`` for checkpoints
    that do not record it): predictions use it unless told otherwise."""
    record = (meta.get("extra") or {}).get("experiment") or {}
    return record.get("edge_precision", LEGACY_EDGE_PRECISION)
