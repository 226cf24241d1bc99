"""Models: the AE-CGCNN ladder (``aecgcnn``) and the GeoCGNN baseline (``geocgnn``).

``build_model(kind, config)`` rebuilds a model from its saved constructor config.
"""
from aecgcnn.models.aecgcnn import AECGCNN, AECGCNNConfig, LADDER, PRESETS, preset_config  # noqa: F401
from aecgcnn.models.geocgnn import GeoCGNN, GeoCGNNConfig  # noqa: F401

MODEL_KINDS = {"aecgcnn": AECGCNN, "geocgnn": GeoCGNN}


def build_model(kind: str, config: dict | None = None, legacy: bool = False):
    """A model of ``kind`` (``aecgcnn`` | ``geocgnn``) from a config dict. ``legacy``: the dict comes from a
    checkpoint, so keys it lacks keep the behaviour of the version that wrote it (``AECGCNNConfig.from_dict``)."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}: {list(MODEL_KINDS)}")
    if kind == "aecgcnn":
        return AECGCNN(AECGCNNConfig.from_dict(config or {}, legacy=legacy))
    return MODEL_KINDS[kind](config or {})


def model_from_preset(preset: str, **overrides):
    """Model from a preset name: a Table I rung (``cgcnn`` … ``ae-cgcnn``) or ``geocgnn``."""
    if preset == "geocgnn":
        return GeoCGNN(GeoCGNNConfig.from_dict(overrides))
    return AECGCNN(preset_config(preset, **overrides))
