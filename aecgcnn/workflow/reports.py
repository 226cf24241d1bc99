"""Result helpers the notebooks share: stamped tables (CSV + Markdown), figures, curves, number format.
(What runs at which scale: :mod:`aecgcnn.workflow.studies`.)"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from aecgcnn.figures import save_figure  # noqa: F401  (the notebooks' import)
from aecgcnn.provenance import stamp
from aecgcnn.workflow.repo import repository


def figures_root() -> Path:
    """``figures/`` of the repository (:func:`aecgcnn.workflow.repo.repository`)."""
    return repository() / "figures"


def output_dirs(profile: str, out_dir=None, variant: str = "") -> tuple[Path, Path]:
    """(figures/tables folder, runs folder) for a profile: ``figures/<profile>`` and ``runs/<profile>``
    unless ``out_dir`` is given, so CI's quick profile never overwrites committed cpu/paper results. ``variant``
    (:func:`aecgcnn.workflow.studies.run_variant`: notebook parameters that change what a run computes) puts the tables and
    figures in ``figures/<profile>/<variant>``, beside the profile's own (its runs get their own folders too)."""
    figs = (Path(out_dir) if out_dir else figures_root() / profile) / variant
    figs.mkdir(parents=True, exist_ok=True)
    return figs, runs_dir(profile, out_dir)


def runs_dir(profile: str, out_dir=None) -> Path:
    """Where a notebook of ``profile`` keeps its training runs: ``runs/<profile>`` of the repository, or
    ``out_dir/runs`` when the notebook's ``out_dir`` parameter is given."""
    return (Path(out_dir) / "runs") if out_dir else repository() / "runs" / profile


def write_table(df: pd.DataFrame, name: str, caption: str, out_dir=None, **provenance) -> Path:
    """Write ``df`` as ``<name>.csv`` and ``<name>.md`` (caption + provenance + table) into ``out_dir``
    (default ``figures/``); returns the Markdown path. Missing values (NaN, None) are empty cells in both."""
    out = Path(out_dir or figures_root())
    out.mkdir(parents=True, exist_ok=True)
    prov = stamp(provenance.pop("device", "cpu"), **provenance)
    df.to_csv(out / f"{name}.csv", index=False)
    lines = [f"**{caption}**", "", "Provenance: " + "; ".join(f"{k}: `{v}`" for k, v in prov.items()), "",
             df.astype(object).where(df.notna(), None).to_markdown(index=False, floatfmt=".4g", missingval="")]
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    (out / f"{name}.provenance.json").write_text(json.dumps(prov, indent=2))
    return out / f"{name}.md"


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
