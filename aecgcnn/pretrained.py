"""Pretrained models shipped inside the package (``aecgcnn/pretrained_models/<name>/``: ``checkpoint.pt`` and
``card.json``, the model card: data, split, protocol, test metrics, the command that trained it).

Any command that takes a checkpoint takes a model name too (``aecgcnn predict core2019-co2-henry-cgcnn my_mofs/``
or ``aecgcnn predict --pretrained core2019-co2-henry my_mofs/``: a dataset name picks that dataset's default model).
:func:`package_run` turns a finished run folder into a shipped model (``scripts/package_pretrained.py``).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from aecgcnn.errors import InputError
from aecgcnn.checkpoint import trained_edge_precision
from aecgcnn.data.datasets import DATASETS
from aecgcnn.models.fused import default_edge_precision

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained_models"


def cards(root: Path | None = None) -> list[dict]:
    """The model cards of every shipped model, sorted by name."""
    root = Path(root or PRETRAINED_DIR)
    return sorted((json.loads(p.read_text()) for p in root.glob("*/card.json")), key=lambda c: c["name"])


def find(name: str, root: Path | None = None) -> Path | None:
    """The checkpoint of the shipped model ``name``, or of the default model of the dataset ``name`` (the card with
    ``default_for_dataset``); None when there is none."""
    root = Path(root or PRETRAINED_DIR)
    if (root / name / "checkpoint.pt").exists():
        return root / name / "checkpoint.pt"
    for card in cards(root):
        if card["dataset"] == name and card.get("default_for_dataset"):
            return root / card["name"] / "checkpoint.pt"
    return None


def resolve(name: str, root: Path | None = None) -> Path:
    """:func:`find`, or an InputError listing the shipped models."""
    path = find(name, root)
    if path is None:
        names = [c["name"] for c in cards(root)]
        raise InputError(f"{name}: no pretrained model of that name or dataset; shipped: {names or 'none'} "
                         "(aecgcnn models)")
    return path



def resolve_source(source) -> Path:
    """Where a model comes from: an existing checkpoint file, run folder or ensemble folder as given; else the name
    of a shipped model or dataset (:func:`find`), or an InputError listing the shipped models (:func:`resolve`)."""
    path = Path(source)
    if path.exists():
        return path
    if len(path.parts) == 1:  # a name (may hold dots: core2019-co2-0.15bar)
        return resolve(str(source))
    raise InputError(f"{source}: no such checkpoint, run or ensemble folder")

def package_run(run_dir, name: str, root: Path | None = None, default_for_dataset: bool = True,
                note: str = "", command: str | None = None) -> Path:
    """Copy a finished run's checkpoint into ``<root>/<name>/`` with its model card built from the run's
    ``metrics.json`` (nothing typed in; the card keeps the whole experiment record). ``command``: the command that
    trained it, required when the run was started from a notebook (its recorded command line is the kernel's).
    ``default_for_dataset``: the model a dataset name picks (any earlier default of that dataset stops being one).
    Returns the card's path."""
    run_dir = Path(run_dir)
    m = json.loads((run_dir / "metrics.json").read_text())
    exp, prov = m["experiment"], m["provenance"]
    if command is None and "ipykernel" in prov["command"]:
        raise ValueError(f"{run_dir}: trained in a notebook kernel; pass the command that reproduces it "
                         "(e.g. 'aecgcnn reproduce table1 --profile cpu')")
    card = {
        "name": name, "dataset": exp["dataset"], "target": m["target"], "units": m["units"],
        "preset": exp["preset"], "model_kind": m["model_kind"], "protocol": m["protocol"],
        "n_parameters": m["n_parameters"], "train_settings": m["train_settings"],
        "split": {"kind": exp["split"], "seed": exp["split_seed"] if exp["split_seed"] is not None else exp["seed"],
                  **m["sizes"]},
        "seed": exp["seed"], "best_epoch": m["best_epoch"], "test": m["test"], "train": m["train"],
        "data_files": m["data_files"],
        "experiment": exp,
        "trained_with": {"command": command or prov["command"], "commit": prov["commit"], "device": prov["device"],
                         "processes": prov.get("processes", 1), "utc": prov["utc"],
                         "seconds": round(m["train_seconds"])},
        "default_for_dataset": default_for_dataset, "note": note, "domain": m.get("domain", {}),
    }
    out = Path(root or PRETRAINED_DIR) / name
    if default_for_dataset:  # one default per dataset: the new model takes over
        for other in cards(root):
            if other["dataset"] == exp["dataset"] and other["name"] != name and other.get("default_for_dataset"):
                other["default_for_dataset"] = False
                (out.parent / other["name"] / "card.json").write_text(json.dumps(other, indent=2) + "\n")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "checkpoint.pt", out / "checkpoint.pt")
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return out / "card.json"


def describe(card: dict) -> str:
    """One model card as a few lines of text (``aecgcnn models``)."""
    t, s = card["test"], card["split"]
    return (f"{card['name']}{'  (default for ' + card['dataset'] + ')' if card.get('default_for_dataset') else ''}\n"
            f"  predicts {card['target']} ({card['units']}) of {card['dataset']}; rung {card['preset']}, protocol "
            f"{card['protocol']}, {card['n_parameters']:,} parameters\n"
            f"  split {s['kind']} seed {s['seed']}: {s['train']:,} train / {s['val']:,} val / {s['test']:,} test; "
            f"best epoch {card['best_epoch']} of {card['train_settings']['epochs']}\n"
            f"  test MAE {t['mae']:.4f} {card['units']}, RMSE {t['rmse']:.4f}, R2 {t['r2']:.3f}, SRCC {t['srcc']:.3f}\n"
            f"  trained: {card['trained_with']['command']} (commit {card['trained_with']['commit']}, "
            f"{card['trained_with']['device']}; per-edge GEMMs {_precision(card)})"
            + (f"\n  applicability domain: kNN distance (k={d['k']}) to {d['n_reference']:,} training crystals, inside up to "
               f"the {d['percentile']:g}th percentile of the validation crystals'; {len(d['elements'])} elements seen; bulk "
               f"ranges: {'-'.join(f'{q:g}' for q in d['bulk_percentiles'])} percentiles"
               if (d := card.get("domain")) else "\n  applicability domain: none stored (add it: aecgcnn domain)")
            + (f"\n  note: {card['note']}" if card.get("note") else ""))


def _precision(card: dict) -> str:
    """The card's ``edge_precision``, marked where it is not today's default (a ``train`` command then needs
    ``--edge-precision``; the notebook profiles pin theirs)."""
    p = trained_edge_precision({"extra": {"experiment": card.get("experiment") or {}}})
    spec = DATASETS.get(card.get("dataset", ""))
    default = default_edge_precision(spec.task if spec else None)
    return p if p == default else f"{p}, not today's default {default} for this dataset"
