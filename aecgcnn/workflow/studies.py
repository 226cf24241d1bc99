"""Study orchestration for the notebooks: experiment scale per profile (``quick`` for CI, ``cpu`` for this
machine, ``paper`` for a GPU), the ladder of Table I / Figures 1-2 trained with one configuration, and the command
that reproduces a notebook run. (Tables and figures: :mod:`aecgcnn.workflow.reports`.)"""
from __future__ import annotations

import json
from pathlib import Path

from aecgcnn.data.datasets import is_demo, resolve_data_dir
from aecgcnn.data.splits import VAL_FRACTION_OF_TRAIN
from aecgcnn.experiment import Experiment, run_study
from aecgcnn.models import LADDER
from aecgcnn.config import DEFAULT_PROTOCOL, LEGACY_EDGE_PRECISION, PROTOCOLS

# Experiment scale per experiment family and profile. quick: CI (a couple of minutes on 2 CPU cores);
# cpu: what this 2-core machine can afford for the paper's claims (docs/notebooks.md: the measured cost per run;
# runs resume epoch by epoch and finished runs are reused, so a notebook can be run again until it completes);
# paper: the paper's protocol (50 epochs, 5 splits, full data) for a GPU.
# presets: the Table I / Figures 1-2 rungs trained (None: all six).
PROFILES = {
    "mof": {  # CoRE-2019 ladder, Figures 1-2, Tables I-II, attention
        # batch 16: CI's test suite stays within 3 GB (a 64-MOF batch of the demo sample peaks at ~3.5 GB RSS)
        # one epoch: CI checks that every notebook runs end to end (the test suite stays within its 5 minutes)
        "quick": {"train_size": 64, "val_size": 32, "test_size": 64, "epochs": 1, "seeds": [0], "compile": False,
                  "batch_size": 16},
        # 2,000 of the 7,464 training MOFs (val 500, the whole test split), 30 epochs, 3 seeds, all six rungs
        # (the full split x 30 epochs x 3 seeds would take days of this machine; cost per run in docs/notebooks.md)
        # fp32: these runs were started before bf16 became the default, and one table must not mix precisions
        "cpu": {"train_size": 2000, "val_size": 500, "test_size": None, "epochs": 30, "seeds": [0, 1, 2],
                "compile": False, "edge_precision": LEGACY_EDGE_PRECISION},
        "paper": {"train_size": None, "val_size": None, "test_size": None, "epochs": 50, "seeds": [0, 1, 2, 3, 4],
                  "compile": True, "processes": "auto"},
    },
    "mp_curve": {  # Table III learning curve on mp-megnet-2018 (fixed MEGNet val/test subsets)
        # one_seed_sizes: further training-set sizes run with the first seed only
        "quick": {"sizes": [100, 200], "val_size": 50, "test_size": 100, "epochs": 1, "seeds": [0], "compile": False},
        "cpu": {"sizes": [300, 500, 1000, 3478, 6956], "one_seed_sizes": [44376], "val_size": 500, "test_size": 1000,
                "epochs": 30, "seeds": [0, 1, 2], "compile": False},
        "paper": {"sizes": [300, 500, 1000, 3478, 6956, 13912, 27824, 44376], "val_size": None, "test_size": None,
                  "epochs": 50, "seeds": [0, 1, 2, 3, 4], "compile": True, "processes": "auto"},
    },
}


# shared by every profile unless it says otherwise; processes: data-parallel ranks per run (torchrun), "auto" = one
# per GPU; edge_precision: of the per-edge GEMMs on CPU (None: the dataset task's default,
# aecgcnn.models.fused.default_edge_precision, unless a profile pins it)
DEFAULTS = {"batch_size": PROTOCOLS[DEFAULT_PROTOCOL]["train"]["batch_size"], "processes": 1, "presets": None,
            "one_seed_sizes": [], "edge_precision": None}


def profile_settings(family: str, profile: str, **overrides) -> dict:
    """Settings of ``PROFILES[family][profile]`` (plus :data:`DEFAULTS`) with notebook overrides applied
    (None values ignored). :data:`QUEUE_SETTINGS` (``finished_only=True``: a notebook's look at a long study while
    it runs; ``skip_busy=True``) are kept in the settings its tables stamp; False is left out, so a complete
    table's settings equal the profile's. ``sizes`` (``mp_curve``: the training-set sizes a notebook runs, like
    ``seeds`` a choice of runs, not a change of what a run computes) replaces the profile's sizes and its
    one-seed sizes: exactly those sizes run, each with every seed."""
    if family not in PROFILES or profile not in PROFILES[family]:
        raise ValueError(f"unknown profile {family}/{profile}: profiles are quick, cpu, paper")
    base = {**DEFAULTS, **PROFILES[family][profile]}
    settings = {**base, **{k: v for k, v in overrides.items() if v is not None}}
    if overrides.get("sizes") is not None:
        if "sizes" not in base:
            raise ValueError(f"profile family {family} has no training-set sizes to choose from")
        settings["sizes"], settings["one_seed_sizes"] = [int(n) for n in overrides["sizes"]], []
    for key in QUEUE_SETTINGS:
        if not settings.get(key):
            settings.pop(key, None)
    changed = {k: settings[k] for k in RUN_SETTINGS if k in base and settings[k] != base[k]}
    if changed:  # the runs of these settings are other runs: run_variant names their folder
        settings["changed"] = changed
    return settings


#: profile settings that change what a run computes (seeds only pick runs; finished_only and processes do not count)
RUN_SETTINGS = ("epochs", "batch_size", "train_size", "val_size", "test_size", "edge_precision")

#: notebook parameters that choose which of a study's runs a notebook trains or waits for (:func:`run_queue`), not
#: what a run computes: stamped in its tables' settings only when true, so a complete table's settings equal the
#: profile's and one made with either is recognisably partial. ``finished_only``: train nothing, tabulate the runs
#: finished so far; ``skip_busy``: train the runs left, but leave out those another process is training instead of
#: waiting for them (that process's own run of the notebook then writes the whole table; dropped by
#: :func:`run_queue` when it left no run out)
QUEUE_SETTINGS = ("finished_only", "skip_busy")


def run_queue(groups: dict, settings: dict, entries=None) -> dict:
    """:func:`aecgcnn.experiment.run_study` of ``groups`` (key -> (Experiment, seeds)) as a notebook's
    ``settings`` (:func:`profile_settings`) ask: their data-parallel ``processes`` per run and their
    :data:`QUEUE_SETTINGS`. Returns key -> that group's :func:`aecgcnn.experiment.run_seeds` result. When
    ``skip_busy`` left no run out (every group has all its seeds), it is dropped from ``settings``, so the tables
    stamped with them read as complete."""
    queue = {key: settings.get(key, False) for key in QUEUE_SETTINGS}
    out = run_study(groups, entries, settings.get("processes", 1), **queue)
    if settings.get("skip_busy") and all(out[key]["seeds"] == list(seeds) for key, (_, seeds) in groups.items()):
        settings.pop("skip_busy")
    return out


def run_variant(settings: dict, model_options: dict | None = None, protocol: str = DEFAULT_PROTOCOL,
                lr: float | None = None, weight_decay: float | None = None, data_dir=None) -> str:
    """The folder that keeps the runs of a notebook whose parameters change what a run computes: '' for the
    profile's own runs, else the changes as ``key=value`` joined by commas (profile settings the notebook overrode,
    ``settings["changed"]``; AE-CGCNN ``model_options``; a protocol other than the default; ``lr``;
    ``weight_decay``; ``data=demo`` when ``data_dir`` resolves to the demo sample shipped with the package, so a run
    on the demo sample never meets one on the full data), e.g. ``lr=0.0003,node_dim=128`` (:func:`variant_name`:
    two variants never share a folder). So changing a parameter trains new runs beside the profile's, never over
    them."""
    parts = {**settings.get("changed", {}), **(model_options or {})}
    parts.update({k: v for k, v in (("protocol", protocol), ("lr", lr), ("weight_decay", weight_decay))
                  if v is not None and v != DEFAULT_PROTOCOL})
    if is_demo(resolve_data_dir(data_dir)):
        parts["data"] = "demo"
    return variant_name(parts)


def profile_label(profile: str, variant: str = "") -> str:
    """How a notebook's captions and figure titles name what they show: ``profile cpu``, or with the variant of a
    changed run (:func:`run_variant`) ``profile cpu, lr=0.0003``, so a side study's table never reads as the
    profile's own."""
    return f"profile {profile}, {variant}" if variant else f"profile {profile}"


def variant_name(parts: dict) -> str:
    """``key=value`` pairs sorted and joined by commas, safe as a file name: '' for none; a value with characters
    unsafe in a file name (replaced by ``_``) or a name past 80 characters (cut at a comma) gets ``+`` and a hash of
    the whole, so two different ``parts`` never share a name."""
    import hashlib
    import re
    if not parts:
        return ""
    raw = [f"{k}={json.dumps(v, sort_keys=True, separators=(',', ':')).strip(chr(34))}"
           for k, v in sorted(parts.items())]
    safe = [re.sub(r"[^A-Za-z0-9=._+-]", "_", r) for r in raw]
    kept = [part for k, part in enumerate(safe) if len(",".join(safe[:k + 1])) <= 80] or [safe[0][:80]]
    name = ",".join(kept)
    if safe != raw or kept != safe:
        name += "+" + hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:8]
    return name


def notebook_command(name: str, profile: str, **params) -> str:
    """The command that reproduces a notebook run, with every parameter that differs from the notebook's
    default (None, False, {} or the paper protocol) as ``-p KEY VALUE``: stamped into its tables."""
    import shlex
    extra = [f"-p {k} {shlex.quote(v if isinstance(v, str) else json.dumps(v))}" for k, v in params.items()
             if v is not None and v is not False and v not in ({}, DEFAULT_PROTOCOL)]
    return " ".join([f"aecgcnn reproduce {name} --profile {profile}", *extra])


#: the training part of each random split as a fraction of the data (70-30 carves a share of its 70 % out for
#: validation: :func:`aecgcnn.data.splits.split_70_30`)
TRAIN_FRACTION = {"80-10-10": 0.8, "70-30": 0.7 * (1 - VAL_FRACTION_OF_TRAIN)}


def split_train_size(split: str, train_size: int | None, reference: str = "80-10-10") -> int | None:
    """The training-set size of ``split`` when a profile caps the ``reference`` split's training set at
    ``train_size``: scaled by the ratio of the two splits' training fractions (:data:`TRAIN_FRACTION`), so that a
    reduced-scale Table II still differs in what the paper's splits differ in, the amount of training data (70-30
    trains on 0.7875x the crystals of 80-10-10; a cap equal for both would leave only the test sets different).
    None (the whole training part) and other splits are returned unchanged."""
    if train_size is None or split not in TRAIN_FRACTION:
        return train_size
    return int(round(train_size * TRAIN_FRACTION[split] / TRAIN_FRACTION[reference]))


def ladder_experiment(dataset: str, preset: str, settings: dict, runs_dir, split: str = "80-10-10", data_dir=None,
                      device: str = "auto", protocol: str = DEFAULT_PROTOCOL, model_options: dict | None = None,
                      lr: float | None = None, weight_decay: float | None = None, overrides: dict | None = None):
    """The Experiment of one ladder rung with a profile's ``settings`` (:func:`profile_settings`), its runs in
    ``runs_dir/<dataset>/<split>/<preset>[/<variant>]/seed<k>`` (:func:`aecgcnn.experiment.run_seeds`;
    :func:`run_variant` when the notebook's parameters change what a run computes): what Table I and Figures 1-2
    train and the quickstart reuses. ``model_options``: AE-CGCNN config changes of every rung; ``overrides``: this
    rung's own. The profile's ``train_size`` is that of the 80-10-10 split; other splits scale it
    (:func:`split_train_size`)."""
    variant = run_variant(settings, model_options, protocol, lr, weight_decay, data_dir)
    folder = Path(runs_dir) / dataset / split / preset / variant
    return Experiment(dataset=dataset, preset=preset, split=split, epochs=settings["epochs"],
                      train_size=split_train_size(split, settings["train_size"]), val_size=settings["val_size"],
                      test_size=settings["test_size"], batch_size=settings["batch_size"],
                      device=device, compile=settings["compile"], edge_precision=settings["edge_precision"],
                      data_dir=data_dir, out_dir=str(folder),
                      overrides={**(model_options or {}), **(overrides or {})}, protocol=protocol,
                      lr=lr, weight_decay=weight_decay)


def curve_experiment(dataset: str, preset: str, train_size: int, settings: dict, runs_dir, data_dir=None,
                     device: str = "auto", protocol: str = DEFAULT_PROTOCOL, overrides: dict | None = None,
                     lr: float | None = None, weight_decay: float | None = None, model_options: dict | None = None):
    """The Experiment of one Table III learning-curve point: ``train_size`` crystals of the dataset's training file,
    validation / test subsets of the profile's sizes from its validation / test files (``settings``:
    :func:`profile_settings` of ``mp_curve``); each subset is drawn by the run's seed, so for one seed the training
    subsets are nested and the validation / test subsets are the same at every size. Runs go to
    ``runs_dir/<dataset>/learning-curve/<preset>[/<variant>]/n<size>/seed<k>`` (:func:`run_variant`);
    ``overrides``: the study's own config changes of this model, ``model_options``: the notebook's (AE-CGCNN)."""
    variant = run_variant(settings, model_options, protocol, lr, weight_decay, data_dir)
    folder = Path(runs_dir) / dataset / "learning-curve" / preset / variant
    return Experiment(dataset=dataset, preset=preset, overrides={**(model_options or {}), **(overrides or {})},
                      split="file", train_size=train_size,
                      val_size=settings["val_size"], test_size=settings["test_size"], epochs=settings["epochs"],
                      batch_size=settings["batch_size"], device=device, compile=settings["compile"], data_dir=data_dir,
                      edge_precision=settings["edge_precision"], protocol=protocol, lr=lr, weight_decay=weight_decay,
                      out_dir=str(folder / f"n{train_size}"))


def run_ladder(dataset: str, settings: dict, runs_dir, presets=None, split: str = "80-10-10", data_dir=None,
               device: str = "auto", entries=None, protocol: str = DEFAULT_PROTOCOL, model_options: dict | None = None,
               lr: float | None = None, weight_decay: float | None = None, **overrides) -> dict:
    """Train every ladder preset (or ``presets``, else the profile's ``presets``) on one dataset with a profile's
    settings; finished runs are reused (with ``settings["finished_only"]`` only they are collected and nothing
    trains; with ``settings["skip_busy"]`` runs another process trains are left out: :func:`run_queue`).
    ``settings``: from :func:`profile_settings`; ``protocol`` / ``model_options`` (AE-CGCNN config changes for every
    rung) / ``lr`` / ``weight_decay``: the run configuration of a notebook's parameters cell (None: the
    protocol's); ``overrides``: per-preset config changes. Returns ``{preset: run_seeds result}``. The runs form one
    queue (:func:`aecgcnn.experiment.run_study`): a second process running the same notebook shares them."""
    groups = ladder_groups(dataset, settings, runs_dir, presets, split, data_dir, device, protocol, model_options, lr,
                           weight_decay, **overrides)
    return run_queue(groups, settings, entries)


def ladder_groups(dataset: str, settings: dict, runs_dir, presets=None, split: str = "80-10-10", data_dir=None,
                  device: str = "auto", protocol: str = DEFAULT_PROTOCOL, model_options: dict | None = None,
                  lr: float | None = None, weight_decay: float | None = None, **overrides) -> dict:
    """``{preset: (Experiment, seeds)}``: the groups of :func:`run_ladder` (same arguments) for
    :func:`aecgcnn.experiment.run_study`, so a notebook can put the ladders of several datasets or splits in one
    queue (Table II) and a second process running it never waits while another run is left."""
    return {preset: (ladder_experiment(dataset, preset, settings, runs_dir, split, data_dir, device, protocol,
                                       model_options, lr, weight_decay, overrides.get(preset)), settings["seeds"])
            for preset in presets or settings.get("presets") or LADDER}
