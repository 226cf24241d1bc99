"""Regression metrics: MAE, RMSE, R², Spearman rank correlation (SRCC), and mean ± std over seeds."""
from __future__ import annotations

import numpy as np


def _spearmanr(a, b):
    """scipy.stats.spearmanr, imported on first use (scipy.stats costs about 0.5 s of every command's start-up)."""
    from scipy.stats import spearmanr
    return spearmanr(a, b)


def regression_metrics(y_true, y_pred) -> dict:
    """MAE, MSE, RMSE (target units), R², SRCC of two 1-D arrays of equal length."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape or t.ndim != 1 or len(t) == 0:
        raise ValueError(f"need two equal-length non-empty 1-D arrays, got {t.shape} and {p.shape}")
    err = p - t
    ss_tot = float(((t - t.mean()) ** 2).sum())
    return {
        "mae": float(np.abs(err).mean()),
        "mse": float((err ** 2).mean()),
        "rmse": float(np.sqrt((err ** 2).mean())),
        "r2": float(1.0 - (err ** 2).sum() / ss_tot) if ss_tot > 0 else float("nan"),
        "srcc": float(_spearmanr(t, p).statistic) if len(t) > 1 else float("nan"),
        "n": int(len(t)),
    }


def aggregate(runs: list[dict]) -> dict:
    """Mean and sample standard deviation (ddof 1, as the verdicts weigh them; 0 for one run) of each numeric
    metric over runs: {key: (mean, std)}; {} for no runs."""
    if not runs:
        return {}
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float))]
    ddof = 1 if len(runs) > 1 else 0
    return {k: (float(np.mean([r[k] for r in runs])), float(np.std([r[k] for r in runs], ddof=ddof))) for k in keys}


#: the multiples of σ at which :func:`calibration` reports coverage (its calibration curve)
COVERAGE_LEVELS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)


def sigma_scale(y_true, mean, std) -> float:
    """The factor s that makes s·σ the maximum-likelihood standard deviation of Gaussian errors: s² = mean over
    the items with σ > 0 of ((y − μ) / σ)². Fitted on validation data, it recalibrates an ensemble's σ."""
    t, m, s = (np.asarray(a, dtype=np.float64) for a in (y_true, mean, std))
    keep = s > 0
    if not keep.any():
        return 1.0
    return float(np.sqrt(np.mean(((t[keep] - m[keep]) / s[keep]) ** 2)))


def calibration(y_true, mean, std) -> dict:
    """How well an ensemble's spread σ [n] describes its errors |mean − y| [n]: the fraction of targets within
    ±1σ and ±2σ (0.683 and 0.954 for Gaussian errors of standard deviation σ), ``coverage``: the fraction within
    ±kσ for each k of :data:`COVERAGE_LEVELS` (the calibration curve; Gaussian: erf(k/√2)), the Spearman correlation between
    |error| and σ (> 0: larger σ flags larger errors) and the mean σ (target units)."""
    t, m, s = (np.asarray(a, dtype=np.float64) for a in (y_true, mean, std))
    err = np.abs(m - t)
    return {"within_1sigma": float((err <= s).mean()), "within_2sigma": float((err <= 2 * s).mean()),
            "coverage": {f"{k:g}": float((err <= k * s).mean()) for k in COVERAGE_LEVELS},
            "spearman_abs_error_sigma": float(_spearmanr(err, s).statistic) if len(t) > 1 and s.std() > 0
            else float("nan"),
            "mean_sigma": float(s.mean()), "n": int(len(t))}
