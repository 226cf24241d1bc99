"""Saving figures: one PNG (for reading) and one PDF (for print) per figure."""
from __future__ import annotations

from pathlib import Path


def save_figure(fig, name: str, out_dir) -> list[Path]:
    """Save a matplotlib figure as ``<out_dir>/<name>.png`` (150 dpi) and ``.pdf``; returns the two paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p, bbox_inches="tight", dpi=150)
    return paths
