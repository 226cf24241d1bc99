"""Helpers the notebooks share: profiles, stamped result tables (CSV + Markdown), and figures."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from aecgcnn.protocols import DEFAULT_PROTOCOL
from aecgcnn.provenance import stamp

FIGURES = Path(__file__).resolve().parents[1] / "figures"

# Experiment scale per experiment family and profile. quick: CI (a couple of minutes on 2 CPU cores);
# cpu: at most about an hour per notebook on 2 cores (measured: README "Results"); paper: the paper's
# protocol (50 epochs, 5 splits, full data) for a GPU.
PROFILES = {
    "mof": {  # CoRE-2019 ladder, Figures 1-2, Tables I-II, attention
        # batch 16: CI's test suite stays within 3 GB (a 64-MOF batch of the demo sample peaks at ~3.5 GB RSS)
        "quick": {"train_size": 64, "val_size": 32, "test_size": 64, "epochs": 2, "seeds": [0], "compile": False,
                  "batch_size": 16},
        "cpu": {"train_size": 400, "val_size": 100, "test_size": 500, "epochs": 10, "seeds": [0], "compile": True},
        "paper": {"train_size": None, "val_size": None, "test_size": None, "epochs": 50, "seeds": [0, 1, 2, 3, 4],
                  "compile": True},
    },
    "mp_curve": {  # Table III learning curve on mp-megnet-2018 (fixed MEGNet val/test subsets)
        "quick": {"sizes": [100, 200], "val_size": 50, "test_size": 100, "epochs": 2, "seeds": [0], "compile": False},
        "cpu": {"sizes": [300, 500, 1000, 3478, 6956], "val_size": 500, "test_size": 1000, "epochs": 20,
                "seeds": [0], "compile": True},
        "paper": {"sizes": [300, 500, 1000, 3478, 6956, 13912, 27824, 44376], "val_size": None, "test_size": None,
                  "epochs": 50, "seeds": [0, 1, 2, 3, 4], "compile": True},
    },
}


DEFAULTS = {"batch_size": 64}  # shared by every profile unless it says otherwise


def profile_settings(family: str, profile: str, **overrides) -> dict:
    """Settings of ``PROFILES[family][profile]`` (plus :data:`DEFAULTS`) with notebook overrides applied
    (None values ignored)."""
    if family not in PROFILES or profile not in PROFILES[family]:
        raise ValueError(f"unknown profile {family}/{profile}: profiles are quick, cpu, paper")
    return {**DEFAULTS, **PROFILES[family][profile], **{k: v for k, v in overrides.items() if v is not None}}


def output_dirs(profile: str, out_dir=None) -> tuple[Path, Path]:
    """(figures/tables folder, runs folder) for a profile: ``figures/<profile>`` and ``runs/<profile>``
    unless ``out_dir`` is given, so CI's quick profile never overwrites committed cpu/paper results."""
    figs = Path(out_dir) if out_dir else FIGURES / profile
    runs = (Path(out_dir) / "runs") if out_dir else FIGURES.parent / "runs" / profile
    figs.mkdir(parents=True, exist_ok=True)
    return figs, runs


def write_table(df: pd.DataFrame, name: str, caption: str, out_dir=None, **provenance) -> Path:
    """Write ``df`` as ``<name>.csv`` and ``<name>.md`` (caption + provenance + table) into ``out_dir``
    (default ``figures/``); returns the Markdown path."""
    out = Path(out_dir or FIGURES)
    out.mkdir(parents=True, exist_ok=True)
    prov = stamp(provenance.pop("device", "cpu"), **provenance)
    df.to_csv(out / f"{name}.csv", index=False)
    lines = [f"**{caption}**", "", "Provenance: " + "; ".join(f"{k}: `{v}`" for k, v in prov.items()), "",
             df.to_markdown(index=False, floatfmt=".4g")]
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    (out / f"{name}.provenance.json").write_text(json.dumps(prov, indent=2))
    return out / f"{name}.md"


def save_figure(fig, name: str, out_dir=None) -> list[Path]:
    """Save a matplotlib figure as PNG and PDF into ``out_dir`` (default ``figures/``)."""
    out = Path(out_dir or FIGURES)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p, bbox_inches="tight", dpi=150)
    return paths


def plot_curves(histories: dict[str, list[dict]], key: str, ylabel: str, start_epoch: int = 2, ax=None):
    """One line per run of ``key`` (e.g. ``train_loss``) against epoch, from ``start_epoch`` (the paper's
    Figures 1–2 start at epoch 2)."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    for label, hist in histories.items():
        rows = [h for h in hist if h["epoch"] >= start_epoch]
        ax.plot([h["epoch"] for h in rows], [h[key] for h in rows], label=label, marker=".")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    return ax.figure


def fmt(mean: float, std: float | None = None, digits: int = 3) -> str:
    """``mean ± std`` (std omitted when None or when a single run)."""
    return f"{mean:.{digits}f}" if not std else f"{mean:.{digits}f} ± {std:.{digits}f}"


def notebook_command(name: str, profile: str, **params) -> str:
    """The command that reproduces a notebook run, with every parameter that differs from the notebook's
    default (None, {} or the paper protocol) as ``-p KEY VALUE``: stamped into its tables."""
    import shlex
    extra = [f"-p {k} {shlex.quote(v if isinstance(v, str) else json.dumps(v))}" for k, v in params.items()
             if v not in (None, {}, DEFAULT_PROTOCOL)]
    return " ".join([f"aecgcnn reproduce {name} --profile {profile}", *extra])


def run_ladder(dataset: str, settings: dict, runs_dir, presets=None, split: str = "80-10-10", data_dir=None,
               device: str = "auto", entries=None, protocol: str = DEFAULT_PROTOCOL, model_options: dict | None = None,
               lr: float | None = None, weight_decay: float | None = None, **overrides) -> dict:
    """Train every ladder preset (or ``presets``) on one dataset with a profile's settings; finished runs
    are reused. ``settings``: from :func:`profile_settings`; ``protocol`` / ``model_options`` (AE-CGCNN config
    changes for every rung) / ``lr`` / ``weight_decay``: the run configuration of a notebook's parameters cell
    (None: the protocol's); ``overrides``: per-preset config changes. Returns ``{preset: run_seeds result}``."""
    from aecgcnn.data.datasets import load_entries
    from aecgcnn.experiment import Experiment, run_seeds
    from aecgcnn.models import LADDER
    entries = entries if entries is not None else load_entries(dataset, data_dir)
    results = {}
    for preset in presets or LADDER:
        exp = Experiment(dataset=dataset, preset=preset, split=split, epochs=settings["epochs"],
                         train_size=settings["train_size"], val_size=settings["val_size"],
                         test_size=settings["test_size"], batch_size=settings["batch_size"],
                         device=device, compile=settings["compile"],
                         data_dir=data_dir, out_dir=str(Path(runs_dir) / dataset / split / preset),
                         overrides={**(model_options or {}), **overrides.get(preset, {})}, protocol=protocol,
                         lr=lr, weight_decay=weight_decay)
        results[preset] = run_seeds(exp, settings["seeds"], entries)
    return results
