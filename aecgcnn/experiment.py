"""One experiment end to end: dataset → split (saved) → graphs (cached) → train → test → files.

Used by the CLI (``aecgcnn train``) and by the notebooks, so both produce the same outputs:
``checkpoint.pt``, ``history.csv``, ``metrics.json`` (with provenance) and ``test_predictions.csv``.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from aecgcnn import distributed
from aecgcnn.errors import InputError
from aecgcnn.checkpoint import load_checkpoint, model_from_checkpoint, read_checkpoint, save_checkpoint
from aecgcnn.data.batch import GraphDataset
from aecgcnn.data.cache import build_graphs, write_problems
from aecgcnn.data.datasets import (DATASETS, dataset_digests, is_demo, load_entries, recorded_same_data,
                                   resolve_data_dir)
from aecgcnn.data.splits import load_split, make_split, save_split
from aecgcnn.domain import capture_embeddings, domain_summary, fit_domain
from aecgcnn.graph import GraphSettings
from aecgcnn.ensemble import MANIFEST, is_ensemble, load_ensemble, predict_with_std
from aecgcnn.metrics import aggregate, calibration, regression_metrics, sigma_scale
from aecgcnn.models import fused, model_from_preset
from aecgcnn.models.fused import EDGE_PRECISIONS, default_edge_precision
from aecgcnn.config import DEFAULT_PROTOCOL, LEGACY_EDGE_PRECISION, LR_SCHEDULES, TRAIN_KEYS
from aecgcnn.pretrained import resolve_source
from aecgcnn.protocols import protocol, train_recipe
from aecgcnn.provenance import stamp, write_record
from aecgcnn.runlock import RunBusy, lock_owner, run_dir_lock, wait_for_run_dir
from aecgcnn.safeload import load_pt
from aecgcnn.train import TrainConfig, predict_dataset, read_history, resolve_device, seed_everything, train_model


@dataclass
class Experiment:
    """What to run. ``preset``: a Table I rung or ``geocgnn``; ``protocol``: a named recipe
    (:mod:`aecgcnn.protocols`: ``paper`` | ``reference-cgcnn``) giving the AE-CGCNN model options and the
    optimiser settings; ``overrides``: model config changes on top (e.g. ``{"geo_features": "radial"}``);
    ``epochs`` / ``batch_size`` / ``lr`` / ``weight_decay``: None = the model's recipe under the protocol
    (:func:`aecgcnn.protocols.train_recipe`: the protocol's, GeoCGNN with its own weight decay 0); ``split``:
    ``80-10-10`` | ``70-30`` | ``file`` | a split JSON; ``train_size`` / ``val_size`` / ``test_size``: nested seeded subsets
    (None = all); ``edge_precision``: of the per-edge GEMMs of the attention layers on CPU, ``bf16`` | ``fp32``
    (:func:`aecgcnn.models.fused.edge_precision`; float32 accumulation either way); None = the default of the
    dataset's task (:func:`aecgcnn.models.fused.default_edge_precision`: bf16 for formation energies, fp32 for MOF
    uptakes and for a user's own data), resolved when the Experiment is made. ``init_from``: start from the weights
    of a trained model (a shipped model's name, a checkpoint or a run folder; fine-tuning) instead of random ones;
    the architecture and model options are then that model's (``preset`` and ``overrides`` do not apply), the
    target normaliser is refitted on the new training set, and the run's record names the starting model.
    ``freeze`` (with ``init_from``): keep the starting model's ``embedding`` (atom and edge embeddings) or ``convs``
    (the embeddings and every convolution: only the pooling and the readout MLP learn) as they are (:data:`FREEZE`;
    batch-norm statistics still adapt to the new data). ``lr_schedule`` / ``warmup_epochs``: the learning rate per
    epoch (:func:`aecgcnn.train.lr_factor`); ``patience``: stop after that many epochs without a better validation
    MAE (``epochs`` is then the cap; the best epoch's weights are kept either way)."""

    dataset: str
    preset: str = "ae-cgcnn"
    overrides: dict = field(default_factory=dict)
    split: str = "80-10-10"
    seed: int = 0
    epochs: int | None = None
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    split_seed: int | None = None  # defaults to seed: the paper averages over random splits
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    protocol: str = DEFAULT_PROTOCOL
    device: str = "auto"
    amp: bool = False
    edge_precision: str | None = None
    compile: bool = False
    data_dir: str | None = None
    cache_dir: str | None = None
    out_dir: str | None = None
    progress: bool = True
    save_split_file: bool = True
    resume: bool = False  # continue from out_dir/train_state.pt (written after every epoch) when it exists
    init_from: str | None = None  # fine-tuning: the trained model whose weights the run starts from
    freeze: str | None = None  # fine-tuning: "embedding" | "convs" (see FREEZE): parts of it kept as they are
    lr_schedule: str = "constant"  # constant | cosine | plateau (aecgcnn.train.lr_factor)
    warmup_epochs: int = 0  # linear learning-rate warm-up over the first epochs
    patience: int | None = None  # early stopping: epochs without a better validation MAE (``epochs``: the cap)
    cutoff: float = GraphSettings.cutoff            # neighbour radius (Å) of the graphs and of the model's bases
    max_neighbors: int = GraphSettings.max_neighbors  # neighbour slots per atom

    def __post_init__(self):
        if self.edge_precision is None:
            spec = DATASETS.get(self.dataset)
            self.edge_precision = default_edge_precision(spec.task if spec else None)
        if self.edge_precision not in EDGE_PRECISIONS:
            raise InputError(f"edge_precision must be one of {sorted(EDGE_PRECISIONS)}, not {self.edge_precision!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise InputError(f"lr_schedule {self.lr_schedule!r}: one of {', '.join(LR_SCHEDULES)}")
        if self.freeze is not None and (self.freeze not in FREEZE or not self.init_from):
            raise InputError(f"freeze={self.freeze!r}: one of {', '.join(FREEZE)}, and only with init_from (a trained "
                             "model to keep parts of)")


#: what ``freeze`` keeps fixed: parameter name prefixes (AE-CGCNN's ``embed``/``edge_embed``/``convs``, GeoCGNN's
#: ``embed``/``blocks``)
FREEZE = {"embedding": ("embed.", "edge_embed."), "convs": ("embed.", "edge_embed.", "convs.", "blocks.")}


#: the value a key had before it existed: what a record (metrics.json, training state) written by an older version
#: that lacks the key computed. A run whose value equals it leaves the key out of its identity, so older runs
#: still resume and are reused.
LEGACY_VALUES = {"edge_precision": LEGACY_EDGE_PRECISION, "init_from": None, "freeze": None, "lr_schedule": "constant",
                 "warmup_epochs": 0, "patience": None}


def experiment_from_dict(record: dict, source: str = "run configuration") -> Experiment:
    """An :class:`Experiment` from a dict of its fields (a ``run.json`` or the ``experiment`` record of a run's
    ``metrics.json``); unknown keys are an InputError naming ``source`` and the keys, missing ones take defaults,
    except in a complete record written before some keys existed: those take their :data:`LEGACY_VALUES` (what
    that run computed). From a metrics.json, optimiser settings left to the recipe (None) take the values the run
    recorded (``train_settings``), so the run is redone as it trained even where today's recipe differs."""
    if "experiment" in record and "dataset" not in record:  # a metrics.json
        trained = record.get("train_settings") or {}
        record = {**record["experiment"], **{k: trained[k] for k in TRAIN_KEYS
                                             if k in trained and record["experiment"].get(k) is None}}
    known = {f.name for f in fields(Experiment)}
    unknown = sorted(set(record) - known)
    if unknown:
        raise InputError(f"{source}: unknown keys {unknown}; an experiment has {sorted(known)}")
    if "dataset" not in record:
        raise InputError(f"{source}: no 'dataset'")
    missing = known - set(record) - {"resume"}
    if missing and missing <= set(LEGACY_VALUES):
        record = {**{k: LEGACY_VALUES[k] for k in missing}, **record}
    return Experiment(**record)


def graph_settings(exp: Experiment) -> GraphSettings:
    """The graph settings of an experiment (its graphs are cached under their hash)."""
    return GraphSettings(cutoff=exp.cutoff, max_neighbors=exp.max_neighbors)


#: Experiment fields that do not change what a run computes: a saved training state may be resumed across them
#: (``epochs`` too: a resumed run may be extended)
RESUMABLE_ACROSS = ("epochs", "device", "compile", "data_dir", "cache_dir", "out_dir", "progress", "save_split_file",
                    "resume")


def run_identity(exp: Experiment) -> dict:
    """What a run computes, stored in its training state: its settings without :data:`RESUMABLE_ACROSS` and
    without keys at their :data:`LEGACY_VALUES`, plus ``train_settings`` (the resolved lr, weight decay and batch
    size, :func:`train_settings`) where they differ from what the protocol alone gives. States written before models
    had their own recipe (:data:`aecgcnn.protocols.MODEL_TRAIN`) resolved from the protocol alone: they resume where
    the settings are unchanged, and a GeoCGNN state trained with the paper protocol's weight decay does not resume
    under GeoCGNN's own."""
    record = asdict(exp)
    identity = {k: v for k, v in record.items()
                if k not in RESUMABLE_ACROSS and not (k in LEGACY_VALUES and v == LEGACY_VALUES[k])}
    resolved, legacy = ({k: v for k, v in ts.items() if k != "epochs"}
                        for ts in (train_settings(exp), protocol_train_settings(record)))
    if resolved != legacy:
        identity["train_settings"] = resolved
    return identity


def train_settings(exp: Experiment) -> dict:
    """epochs, lr, weight_decay, batch_size of an experiment: its own values, else its model's recipe under its
    protocol (:func:`aecgcnn.protocols.train_recipe`)."""
    return _resolve(train_recipe(exp.protocol, exp.preset), asdict(exp))


def protocol_train_settings(record: dict) -> dict:
    """The train settings an experiment record (a dict of :class:`Experiment` fields) resolves to from its protocol
    alone, without its model's own recipe: what every run computed before :data:`aecgcnn.protocols.MODEL_TRAIN`
    existed (records and training states that lack their resolved settings are read so)."""
    return _resolve(protocol(record.get("protocol", DEFAULT_PROTOCOL))["train"], record)


def _resolve(recipe: dict, record: dict) -> dict:
    """The :data:`TRAIN_KEYS` of an experiment record: its own values, else the recipe's."""
    return {k: recipe[k] if record.get(k) is None else record[k] for k in TRAIN_KEYS}


def model_overrides(exp: Experiment) -> dict:
    """Model config of an experiment on top of its preset: the protocol's model options (AE-CGCNN rungs
    only; GeoCGNN has its own published recipe), the graph cutoff, then ``exp.overrides``."""
    base = {} if exp.preset == "geocgnn" else protocol(exp.protocol)["model"]
    return {**base, "cutoff": exp.cutoff, **exp.overrides}  # the model's Gaussians and bases span the graph radius


def initial_model(exp: Experiment):
    """The model an experiment starts from: its preset with the protocol's and its own options, initialised from
    ``exp.seed`` (so the seed varies the initial weights as well as the data order); with ``exp.init_from``, that
    trained model (one model, with the graph settings of ``exp``) in training mode."""
    seed_everything(exp.seed)
    if not exp.init_from:
        return model_from_preset(exp.preset, **model_overrides(exp))
    path = resolve_source(exp.init_from)
    if is_ensemble(path):
        raise InputError(f"--init-from {exp.init_from}: an ensemble folder; start from one of its members "
                         f"({path / 'seed0'})")
    model, meta = load_checkpoint(path)
    if meta["graph_settings"] != graph_settings(exp):
        raise InputError(f"--init-from {exp.init_from}: trained on graphs {meta['graph_settings'].to_dict()}, this run "
                         f"builds {graph_settings(exp).to_dict()}; use the same --cutoff and --max-neighbors")
    for name, param in model.named_parameters():
        if exp.freeze and name.startswith(FREEZE[exp.freeze]):
            param.requires_grad_(False)
    return model.train()


def nested_subset(ids: list[str], n: int | None, seed: int) -> list[str]:
    """``n`` of ``ids`` drawn by ``seed`` (all of them for None or n ≥ len): the first n of one seeded permutation,
    so for one seed a smaller subset lies inside a larger one."""
    if n is None or n >= len(ids):
        return list(ids)
    rng = np.random.default_rng(seed)
    return [ids[i] for i in rng.permutation(len(ids))[:n]]


def nested_subsets(split: dict, split_seed: int, train_size: int | None = None, val_size: int | None = None,
                   test_size: int | None = None) -> dict[str, list[str]]:
    """The parts of a split ({"train", "val", "test": ids}) cut to the requested sizes, each drawn by its own seed
    derived from the split seed (train: seed, val: seed + 1, test: seed + 2): what a run with these sizes trains,
    selects and tests on (:func:`prepare_split`), so a baseline can fit on exactly a run's crystals."""
    sizes = {"train": train_size, "val": val_size, "test": test_size}
    for part, n in sizes.items():
        if n is not None and n > len(split[part]):
            print(f"[aecgcnn] --{part}-size {n} asks for more than the {len(split[part])} crystals of the split's "
                  f"{part} part: using all {len(split[part])}", file=sys.stderr)
    return {part: nested_subset(split[part], n, split_seed + k) for k, (part, n) in enumerate(sizes.items())}


def split_labelled(entries) -> tuple[list, list]:
    """(entries with a finite label, entries whose label is NaN or missing)."""
    good, missing = [], []
    for e in entries:
        (good if e.target is not None and math.isfinite(e.target) else missing).append(e)
    return good, missing


def prepare_split(exp: Experiment, entries) -> dict:
    """The (saved) split of the experiment, with the requested nested subset sizes applied. The split is drawn
    over the entries with a label only (:func:`split_labelled`), whoever calls: training, ``evaluate``, the
    ensembles' test and ``explain`` must see the same test crystals (a split over all entries shifts every id)."""
    entries, _ = split_labelled(entries)
    split_seed = exp.seed if exp.split_seed is None else exp.split_seed
    if Path(exp.split).suffix == ".json":
        split = load_split(exp.split)
    else:
        split = make_split(exp.split, entries, split_seed)
        if exp.save_split_file and exp.dataset in DATASETS:
            name = exp.split if exp.split == "file" else f"{exp.split}-seed{split_seed}"
            demo = is_demo(resolve_data_dir(exp.data_dir))  # demo splits never replace the full data's
            save_split(split, f"demo/{exp.dataset}" if demo else exp.dataset, name)
    # nested subsets: the permutation depends on the split seed only, so train_300 ⊂ train_500 ⊂ ...
    return {**nested_subsets(split, split_seed, exp.train_size, exp.val_size, exp.test_size),
            "meta": split.get("meta", {})}


def load_datasets(exp: Experiment, split: dict, entries, report_dir: Path | None = None):
    """Build (or read cached) graphs of the split's entries → dict of GraphDataset and the build result."""
    wanted = set(split["train"]) | set(split["val"]) | set(split["test"])
    chosen = [e for e in entries if e.id in wanted]
    report = (report_dir / "skipped_entries.csv") if report_dir else None
    built = build_graphs(chosen, graph_settings(exp), exp.cache_dir, report_path=report, progress=exp.progress)
    index = {e.id: (g, e.target) for e, g in zip(built.entries, built.graphs)}
    sets = {}
    for part in ("train", "val", "test"):
        ids = [i for i in split[part] if i in index]
        sets[part] = GraphDataset([index[i][0] for i in ids], [index[i][1] for i in ids], ids)
    return sets, built


def evaluation_set(meta: dict, part: str = "test", dataset: str | None = None, split_file: str | None = None,
                   data_dir=None, cache_dir=None, entries=None) -> tuple[str, GraphDataset]:
    """The crystals a checkpoint is evaluated on: (dataset name, GraphDataset). ``meta``: a checkpoint's metadata
    (:func:`aecgcnn.checkpoint.load_checkpoint`), whose recorded experiment rebuilds the same split; ``part``
    ``train`` | ``val`` | ``test`` | ``all`` (every labelled entry); ``dataset``: another dataset (then an
    80-10-10 split, or ``split_file``); ``entries``: the dataset's entries when the caller has them. Only the
    graphs of ``part`` are read."""
    saved = dict(meta.get("extra", {}).get("experiment", {}))
    dataset = dataset or saved.get("dataset") or meta.get("dataset")
    same = dataset == saved.get("dataset")
    exp = Experiment(**{**(saved if same else {}), "dataset": dataset, "data_dir": data_dir, "cache_dir": cache_dir,
                        "out_dir": None, "save_split_file": False, **({"split": split_file} if split_file else {}),
                        **({} if same else {"split": split_file or "80-10-10"})})
    entries = entries if entries is not None else load_entries(dataset, data_dir)
    ids = [e.id for e in split_labelled(entries)[0]] if part == "all" else prepare_split(exp, entries)[part]
    sets, _ = load_datasets(exp, {"train": [], "val": [], "test": ids}, entries)
    return dataset, sets["test"]


def fit_checkpoint_domain(path, out=None, data_dir=None, cache_dir=None, device="cpu") -> dict:
    """Fit the applicability domain (:func:`aecgcnn.domain.fit_domain`) of a saved single model on the training and
    validation crystals of the split its recorded experiment draws, and write it into the checkpoint (``out``: a
    copy there instead) → the domain's summary. A run's ``metrics.json`` or a shipped model's ``card.json`` beside
    the checkpoint gets the summary too."""
    ckpt_path, ckpt = read_checkpoint(path)
    model, meta = model_from_checkpoint(ckpt, device)
    saved = meta.get("extra", {}).get("experiment")
    if not saved:
        raise InputError(f"{ckpt_path}: records no experiment, so its training crystals are unknown")
    entries = load_entries(saved["dataset"], data_dir)
    _, train = evaluation_set(meta, "train", data_dir=data_dir, cache_dir=cache_dir, entries=entries)
    _, val = evaluation_set(meta, "val", data_dir=data_dir, cache_dir=cache_dir, entries=entries)
    with fused.edge_precision(saved.get("edge_precision") or LEGACY_EDGE_PRECISION):
        domain = fit_domain(model, train, val, seed=saved.get("seed", 0), device=device)
    ckpt["domain"] = domain
    target = Path(out) if out else ckpt_path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, target)
    summary = {**domain_summary(domain), "fitted_by": {k: v for k, v in stamp(device).items()
                                                        if k in ("command", "commit", "utc")}}
    for name in ("metrics.json", "card.json"):  # a run's record, a shipped model's card
        record = ckpt_path.parent / name
        if not out and record.exists():
            write_record(record, {**json.loads(record.read_text()), "domain": summary})
    return summary


def run_experiment(exp: Experiment, entries=None) -> dict:
    """Run one experiment; returns the metrics dict (also written to ``out_dir/metrics.json``)."""
    entries = entries if entries is not None else load_entries(exp.dataset, exp.data_dir)
    out = Path(exp.out_dir) if exp.out_dir else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    main = distributed.context().is_main  # under torchrun rank 0 holds the folder and writes into it
    with run_dir_lock(out if main else None):
        return _train_and_test(exp, entries, out)


def _train_and_test(exp: Experiment, entries, out: Path | None) -> dict:
    """The body of :func:`run_experiment` (the run folder is already claimed). Under torchrun every rank
    runs it: rank 0 builds the graphs first (the others read its cache), prints, writes the run's files and
    computes the test metrics, which every rank returns."""
    ctx = distributed.context()
    if not ctx.is_main:  # the other ranks: no messages, no files, no progress bars (they read the training state)
        exp = replace(exp, progress=False, save_split_file=False)
    entries, unlabelled = split_labelled(entries)
    if unlabelled and ctx.is_main:
        print(f"[aecgcnn] {len(unlabelled)} entries have no label (NaN or missing) and are left out of the split"
              + (f"; listed in {out / 'unlabelled_entries.csv'}" if out else ""))
        if out:
            write_problems(out / "unlabelled_entries.csv",
                           [(e.id, f"{e.source}: label is NaN or missing") for e in unlabelled])
    if out and ctx.is_main:  # the plan, before anything long: `aecgcnn status` reads it, `train --config` resumes it
        write_run_config(exp, out)
    split = prepare_split(exp, entries)
    with distributed.main_first():
        sets, built = load_datasets(exp, split, entries, out if ctx.is_main else None)
    if len(sets["train"]) < 2 or len(sets["val"]) < 1 or len(sets["test"]) < 1:
        raise InputError(f"{exp.dataset}: too few crystals after the split "
                         f"(train {len(sets['train'])}, val {len(sets['val'])}, test {len(sets['test'])})")
    model = initial_model(exp)
    ts = train_settings(exp)
    tcfg = TrainConfig(**ts, seed=exp.seed, device=exp.device, amp=exp.amp, compile=exp.compile,
                       edge_precision=exp.edge_precision,
                       progress=exp.progress, log_path=str(out / "history.csv") if out else None,
                       lr_schedule=exp.lr_schedule, warmup_epochs=exp.warmup_epochs, patience=exp.patience,
                       state_path=str(out / "train_state.pt") if out else None, resume=exp.resume)
    result = train_model(model, sets["train"], sets["val"], tcfg, identity=run_identity(exp))
    if not ctx.is_main:
        return distributed.broadcast_object(None)
    metrics = _test_and_write(exp, model, sets, split, built, unlabelled, result, ts, out)
    return distributed.broadcast_object(metrics)


def _test_and_write(exp: Experiment, model, sets, split, built, unlabelled, result, ts, out: Path | None) -> dict:
    """Test and train metrics of a trained model, with everything that describes the run; written to ``out``
    (checkpoint.pt, test_predictions.csv, metrics.json) when given."""
    device = resolve_device(exp.device)
    p_test, t_test = predict_dataset(model, sets["test"], ts["batch_size"], device, edge_precision=exp.edge_precision)
    with capture_embeddings(model, enabled=out is not None) as captured:  # the domain's training embeddings
        p_train, t_train = predict_dataset(model, sets["train"], ts["batch_size"], device,
                                           edge_precision=exp.edge_precision)
    spec = DATASETS.get(exp.dataset)
    metrics = {
        "test": regression_metrics(t_test, p_test),
        "train": regression_metrics(t_train, p_train),
        "best_epoch": result.best_epoch, "best_val_mae": result.best_val_mae, "epochs_run": len(result.history),
        "train_seconds": result.seconds,
        "sizes": {k: len(v) for k, v in sets.items()},
        "skipped_entries": len(built.failures), "unlabelled_entries": len(unlabelled),
        "experiment": asdict(exp), "protocol": exp.protocol, "train_settings": ts,
        "model_config": model.config_dict(), "model_kind": model.kind,
        "n_parameters": int(sum(p.numel() for p in model.parameters())),
        "data_files": list(spec.files) if spec else [exp.dataset],
        "target": spec.target if spec else "target", "units": spec.units if spec else "",
        "split_meta": split["meta"],
        "data_root": _data_root(exp), "data_sha256": dataset_digests(exp.dataset, exp.data_dir),
        "provenance": stamp(device),
    }
    metrics["history"] = result.history
    if out:
        with fused.edge_precision(exp.edge_precision):
            model.domain = fit_domain(model, sets["train"], sets["val"], seed=exp.seed, batch_size=ts["batch_size"],
                                      device=device, train_embeddings=captured.rows()[0])
        metrics["domain"] = domain_summary(model.domain)  # fitted by the run's own command (its provenance)
        save_checkpoint(out / "checkpoint.pt", model, graph_settings(exp), exp.dataset, metrics["target"],
                        metrics["units"], extra={"preset": exp.preset, "test_mae": metrics["test"]["mae"], "experiment": asdict(exp)})
        # history.csv was written epoch by epoch by the trainer (TrainConfig.log_path)
        with open(out / "test_predictions.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "target", "prediction"])
            w.writerows(zip(sets["test"].ids, t_test.tolist(), p_test.tolist()))
        # last and never half-written: its presence marks a finished run (run_or_load, run_seeds(finished_only))
        write_record(out / "metrics.json", {k: v for k, v in metrics.items() if k != "history"})
    return metrics


def _data_root(exp: Experiment) -> str:
    """``demo`` for the packaged sample, else the resolved data folder (named datasets), else ``user``."""
    if exp.dataset not in DATASETS:
        return "user"
    root = resolve_data_dir(exp.data_dir)
    return "demo" if is_demo(root) else str(root)


def same_data(metrics: dict, exp: Experiment) -> bool:
    """Whether the run recorded in ``metrics`` (a metrics.json) was trained on the data ``exp`` reads
    (:func:`aecgcnn.data.datasets.recorded_same_data`: the same files wherever they lie)."""
    return recorded_same_data(metrics, dataset_digests(exp.dataset, exp.data_dir), _data_root(exp))


def experiment_differences(saved: dict, exp: Experiment, recorded_train: dict | None = None) -> dict:
    """Where an experiment recorded in a run's metrics.json differs from ``exp``: {key: (recorded, requested)}.
    Keys the record lacks, written by an older version, take their :data:`LEGACY_VALUES`, else their defaults.
    The optimiser settings (:data:`aecgcnn.protocols.TRAIN_KEYS`) are compared as resolved: ``recorded_train`` (the
    run's recorded ``train_settings``; when absent, what the record's protocol alone gives) against
    :func:`train_settings` of ``exp``, so ``weight_decay=None`` and an explicit value that resolves alike are the same
    run. ``progress``, ``resume``, ``out_dir`` (the folder the record was found in), ``data_dir`` and ``cache_dir``
    (where the data and graphs lie: whether they are the same data is :func:`same_data`'s question) do not count."""
    ignore = ("progress", "resume", "out_dir", "data_dir", "cache_dir", *TRAIN_KEYS)
    defaults = {f.name: f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
                for f in fields(Experiment) if f.default is not MISSING or f.default_factory is not MISSING}
    defaults.update(LEGACY_VALUES)
    recorded = {**defaults, **saved}
    differences = {k: (recorded.get(k), v) for k, v in asdict(exp).items()
                   if k not in ignore and recorded.get(k) != v}
    was, now = recorded_train or protocol_train_settings(recorded), train_settings(exp)
    differences.update({k: (was.get(k), now[k]) for k in TRAIN_KEYS if was.get(k) != now[k]})
    return differences


def same_experiment(saved: dict, exp: Experiment, recorded_train: dict | None = None) -> bool:
    """Whether an experiment recorded in a run's metrics.json is ``exp`` (:func:`experiment_differences`)."""
    return not experiment_differences(saved, exp, recorded_train)


def run_or_load(exp: Experiment, entries=None, processes: int | str = 1) -> dict:
    """Reuse a finished run in ``exp.out_dir`` when its recorded experiment is identical (notebooks that
    share runs, e.g. Figures 1–2 and Table I); otherwise run it, resuming an interrupted run of the same
    experiment from its last finished epoch. Returns metrics with ``history``. ``processes`` > 1 (or ``"auto"``:
    one per GPU): train with that many data-parallel ranks through torchrun (:func:`run_torchrun`). Under
    torchrun itself rank 0 decides and every rank follows."""
    decision = distributed.broadcast_object(_reuse_decision(exp) if distributed.context().is_main else None)
    if decision[0] == "reuse":
        return decision[1]
    exp = replace(exp, resume=True) if decision[0] == "resume" else exp
    n = distributed.resolve_processes(processes)
    if n > 1 and not distributed.context().active:
        return run_torchrun(exp, n)
    return run_experiment(exp, entries)


def run_torchrun(exp: Experiment, processes: int) -> dict:
    """Train ``exp`` with ``processes`` data-parallel ranks: writes ``out_dir/run.json`` and runs
    ``python -m torch.distributed.run --standalone --nproc-per-node N -m aecgcnn train --config run.json``
    (gloo on CPU, NCCL on GPUs), then returns the run's metrics with ``history``."""
    import subprocess
    import sys
    if not exp.out_dir:
        raise InputError("a torchrun job needs an output folder (out_dir)")
    out = Path(exp.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = write_run_config(exp, out)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
           "-m", "aecgcnn", "train", "--config", str(config)]
    print(f"[aecgcnn] {' '.join(cmd)}")
    if subprocess.run(cmd).returncode != 0:
        raise RuntimeError(f"{out}: the torchrun job failed (its output is above); rerun resumes it")
    return read_run(out)


def write_run_config(exp: Experiment, out: Path) -> Path:
    """``out/run.json``: the run configuration (every Experiment field), written at the start of a run and never
    half-written. ``aecgcnn train --config out/run.json --resume`` continues the run; ``aecgcnn status`` reads its
    planned epochs."""
    return write_record(out / "run.json", asdict(exp))  # two processes may write it at once: each its own temp file


def record_plan(exp: Experiment) -> None:
    """Write ``run.json`` into the folder of a run that a queue will train later, so that ``aecgcnn status`` lists it
    as *not started* and counts its time before it starts. Only for a run with no epoch done that no live process
    holds (a started run keeps the plan it started with; an unstarted one takes the queue's current plan)."""
    if not exp.out_dir:
        return
    out = Path(exp.out_dir)
    started = any((out / name).exists() for name in ("metrics.json", "history.csv", "train_state.pt"))
    if not started and lock_owner(out / ".lock") is None:
        out.mkdir(parents=True, exist_ok=True)
        write_run_config(exp, out)


def read_run(out: Path) -> dict:
    """The metrics of a finished run folder (``metrics.json``) with its per-epoch ``history`` (``history.csv``)."""
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    metrics["history"] = read_history(Path(out) / "history.csv")
    return metrics


def finished_run(exp: Experiment) -> dict | None:
    """The metrics (with ``history``) of a finished run of exactly ``exp`` (same experiment, same data) in
    ``exp.out_dir``; None when there is none. Only looks: no waiting, no messages."""
    if not exp.out_dir:
        return None
    out = Path(exp.out_dir)
    if (out / "metrics.json").exists() and (out / "history.csv").exists():
        metrics = read_run(out)
        recorded_train = metrics.get("train_settings")
        if same_data(metrics, exp) and same_experiment(metrics.get("experiment", {}), exp, recorded_train):
            return metrics
    return None


def _reuse_decision(exp: Experiment) -> tuple[str, dict | None]:
    """``("reuse", metrics with history)`` for a finished identical run in ``exp.out_dir`` (after waiting for a
    process that is training it), ``("resume", None)`` for an interrupted one, else ``("train", None)``."""
    if not exp.out_dir:
        return "train", None
    out = Path(exp.out_dir)
    wait_for_run_dir(out)
    if (metrics := finished_run(exp)) is not None:
        print(f"[aecgcnn] reusing finished run {out}")
        return "reuse", metrics
    _refuse_to_overwrite(exp, out)
    state = out / "train_state.pt"
    if state.exists():
        if load_pt(state, what="training state").get("identity") == run_identity(exp):
            print(f"[aecgcnn] resuming the interrupted run in {out}")
            return "resume", None
        print(f"[aecgcnn] {state} is the state of another experiment: training afresh")
    return "train", None


def _refuse_to_overwrite(exp: Experiment, out: Path) -> None:
    """A finished run in ``out`` that is not ``exp`` (other settings or other data) is never trained over: an
    InputError names the folder and the differences. Settings a run may be continued with (:data:`RESUMABLE_ACROSS`,
    e.g. more ``epochs``: ``--resume`` extends it) do not count."""
    if not (out / "metrics.json").exists():
        return
    metrics = json.loads((out / "metrics.json").read_text())
    differences = {k: v for k, v in experiment_differences(metrics.get("experiment", {}), exp,
                                                           metrics.get("train_settings")).items()
                   if k not in RESUMABLE_ACROSS}
    if not same_data(metrics, exp):
        was, now = metrics.get("data_root"), _data_root(exp)
        same_folder = (f"{was} (recorded SHA-256)", "the same folder, files changed")
        differences["data"] = (was, now) if was != now else same_folder
    if differences:
        listed = "; ".join(f"{k}: {a!r} there, {b!r} here" for k, (a, b) in differences.items())
        raise InputError(f"{out} holds a finished run of another experiment ({listed}); it is not overwritten: "
                         "give this run another output folder, or move that one away")


def seed_experiment(exp: Experiment, seed: int) -> Experiment:
    """``exp`` with ``seed``, in ``<out_dir>/seed<seed>`` (the run of that seed in :func:`run_seeds`)."""
    return replace(exp, seed=seed, out_dir=str(Path(exp.out_dir) / f"seed{seed}") if exp.out_dir else None)


def run_seeds(exp: Experiment, seeds: list[int], entries=None, processes: int | str = 1,
              finished_only: bool = False) -> dict:
    """The same experiment over several seeds (each with its own random split, as the paper's 5 splits):
    returns ``{"runs": [...], "seeds": [...], "test": {metric: (mean, std)}, "train": {...}}``. ``processes``: as
    :func:`run_or_load`. ``finished_only``: train nothing, collect the seeds whose runs have finished (a look at a
    long study while it runs; ``runs`` may then be empty, and ``test`` / ``train`` are ``{}``). One group of
    :func:`run_study`."""
    return run_study({None: (exp, seeds)}, entries, processes, finished_only)[None]


def _busy(exp: Experiment) -> int | None:
    """The pid of another live process training into ``exp.out_dir``, else None."""
    pid = lock_owner(Path(exp.out_dir) / ".lock") if exp.out_dir else None
    return pid if pid and pid != os.getpid() else None


def run_study(groups: dict, entries=None, processes: int | str = 1, finished_only: bool = False,
              skip_busy: bool = False) -> dict:
    """Several experiments, each over its seeds, as one queue. ``groups``: key → (Experiment, seeds); returns key →
    the :func:`run_seeds` result of that group. Finished runs are reused; a run another live process is training is
    put off until the queue's other runs are done, then waited for and reused. So two processes running the same
    study (e.g. ``aecgcnn reproduce table3`` started twice on a 2-core machine) share its runs instead of one
    waiting for the other. Every run of the queue gets its plan (:func:`record_plan`) before the first trains.
    ``entries``: the dataset's entries when every group uses one dataset, or a dict dataset name → its entries (a
    dataset missing from it, or ``entries`` None: loaded once when its first run needs it); ``processes`` /
    ``finished_only``: as :func:`run_seeds`. ``skip_busy``: do not wait for the runs another process is training
    (they are left out of the result unless they finished meanwhile): this process ends when its own share of the
    queue is done and its core moves on, while the process that trains the last run, running the same study, gets
    every run."""
    queue = [(key, seed, seed_experiment(exp, seed)) for key, (exp, seeds) in groups.items() for seed in seeds]
    if not finished_only:  # the whole queue is visible to `aecgcnn status` from the start
        for _, _, sub in queue:
            record_plan(sub)
    loaded = {}

    def entries_of(e: Experiment):
        if isinstance(entries, dict):
            if e.dataset in entries:
                return entries[e.dataset]
        elif entries is not None:
            return entries
        if (e.dataset, e.data_dir) not in loaded:
            loaded[(e.dataset, e.data_dir)] = load_entries(e.dataset, e.data_dir)
        return loaded[(e.dataset, e.data_dir)]

    done, later = {}, []
    for key, seed, sub in queue:
        if finished_only:
            if (metrics := finished_run(sub)) is not None:
                done[(key, seed)] = metrics
        elif (pid := _busy(sub)) and finished_run(sub) is None:
            print(f"[aecgcnn] pid {pid} is training {sub.out_dir}: the other runs first")
            later.append((key, seed, sub))
        else:
            try:
                done[(key, seed)] = run_or_load(sub, entries_of(sub), processes)
            except RunBusy:  # claimed by another process in the meantime
                later.append((key, seed, sub))
    for key, seed, sub in later:
        if skip_busy:
            if (metrics := finished_run(sub)) is not None:
                done[(key, seed)] = metrics
            else:
                print(f"[aecgcnn] left out {sub.out_dir}: pid {_busy(sub)} is still training it (skip_busy)")
            continue
        while (key, seed) not in done:
            try:
                done[(key, seed)] = run_or_load(sub, entries_of(sub), processes)  # waits for its owner, then reuses
            except RunBusy:
                continue
    out = {}
    for key, (exp, seeds) in groups.items():
        finished = [s for s in seeds if (key, s) in done]
        runs = [done[(key, s)] for s in finished]
        out[key] = {"runs": runs, "seeds": finished, "test": aggregate([r["test"] for r in runs]),
                    "train": aggregate([r["train"] for r in runs])}
    return out


def train_ensemble(exp, seeds: list[int], entries=None) -> dict:
    """Train ``exp`` once per seed into ``exp.out_dir/seed<k>`` on one shared split (``exp.split_seed``, default
    the first seed: every member is tested on crystals none of them trained on), then calibrate σ on the validation
    part (one factor, :func:`aecgcnn.metrics.sigma_scale`, stored in ``ensemble.json`` and applied by every later
    prediction) and test the ensemble: the members' mean and calibrated σ, regression metrics and
    :func:`aecgcnn.metrics.calibration` after and before (``calibration_raw``) the scaling. Members that finished
    before are reused and interrupted ones resumed (:func:`aecgcnn.experiment.run_or_load`)."""
    if not exp.out_dir:
        raise InputError("an ensemble needs an output folder (--out)")
    out = Path(exp.out_dir)
    split_seed = seeds[0] if exp.split_seed is None else exp.split_seed
    base = replace(exp, split_seed=split_seed)
    entries = entries if entries is not None else load_entries(exp.dataset, exp.data_dir)
    members = []
    for s in seeds:
        m = run_or_load(replace(base, seed=s, out_dir=str(out / f"seed{s}")), entries)
        members.append({"seed": s, "path": f"seed{s}/checkpoint.pt", "test": m["test"]})
    if not distributed.context().is_main:  # under torchrun rank 0 tests the ensemble and writes its files
        return distributed.broadcast_object(None)
    manifest = {"members": [m["path"] for m in members], "seeds": list(seeds), "split_seed": split_seed}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    device = resolve_device(exp.device)
    ensemble, meta = load_ensemble(out, device)  # raw σ until the scale is fitted
    _, val = evaluation_set(meta, "val", data_dir=exp.data_dir, cache_dir=exp.cache_dir, entries=entries)
    scale = 1.0
    if len(val):
        val_mean, val_std, val_target = predict_with_std(ensemble, val, device=device)
        scale = sigma_scale(val_target, val_mean, val_std)
    (out / MANIFEST).write_text(json.dumps({**manifest, "sigma_scale": scale}, indent=2))
    _, test = evaluation_set(meta, "test", data_dir=exp.data_dir, cache_dir=exp.cache_dir, entries=entries)
    mean, raw_std, target = predict_with_std(ensemble, test, device=device)
    std = raw_std * scale
    metrics = {"test": regression_metrics(target, mean), "calibration": calibration(target, mean, std),
               "calibration_raw": calibration(target, mean, raw_std), "sigma_scale": scale,
               "members": members, "member_test": aggregate([m["test"] for m in members]),
               "experiment": asdict(base), "seeds": list(seeds), "units": meta.get("units", ""),
               "provenance": stamp(device)}
    with open(out / "test_predictions.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "target", "prediction", "std"])
        w.writerows(zip(test.ids, target.tolist(), mean.tolist(), std.tolist()))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return distributed.broadcast_object(metrics)
