"""The ``aecgcnn`` command line: data list/build/download, train, predict, evaluate."""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

from aecgcnn.errors import InputError
from aecgcnn.version import __version__
from aecgcnn.config import DOMAIN_MODES, LR_SCHEDULES, MAX_CIF_BYTES, PREDICT_BATCH_SIZE, PROBE_RADIUS
from aecgcnn.graph import GraphSettings
from aecgcnn.outputs import writable_output


def _add_common(p):
    p.add_argument("--data-dir", default=None, help="data root (default: $AECGCNN_DATA)")
    p.add_argument("--cache-dir", default=None, help="graph cache (default: $AECGCNN_CACHE or ~/.cache/aecgcnn/graphs)")


def cmd_data_list(args):
    """`aecgcnn data list`: every dataset with its entry and label counts in the data root, and whether its files are
    present."""
    from aecgcnn.data.datasets import DATASETS, is_demo, load_entries, resolve_data_dir
    root = resolve_data_dir(args.data_dir)
    print(f"data directory: {root}" + (" (demo sample shipped with the package)" if is_demo(root) else ""))
    print(f"{'dataset':24s} {'entries':>8s} {'labelled':>9s}  {'target':32s} {'units':8s} present")
    for name, spec in DATASETS.items():
        try:
            entries = load_entries(name, root)
            n, lab, present = len(entries), sum(not math.isnan(e.target) for e in entries), "yes"
        except InputError:
            n, lab, present = 0, 0, "no (see data/README.md)"
        demo = " [demo only]" if spec.demo_only else ""
        print(f"{name:24s} {n:8d} {lab:9d}  {spec.target:32s} {spec.units:8s} {present}{demo}")


def cmd_data_build(args):
    """`aecgcnn data build NAME ...`: build and cache every graph of each dataset; skipped entries go to
    ``<report_dir>/<name>-skipped.csv``."""
    from aecgcnn.data.cache import GraphCache, build_graphs
    from aecgcnn.data.datasets import load_entries
    settings = GraphSettings(cutoff=args.cutoff, max_neighbors=args.max_neighbors)
    for name in args.names:
        t = time.time()
        entries = load_entries(name, args.data_dir)
        report = Path(args.report_dir) / f"{Path(name).name}-skipped.csv"
        r = build_graphs(entries, settings, args.cache_dir, workers=args.workers, report_path=report)
        cache = GraphCache(args.cache_dir, settings)
        print(f"{name}: {len(entries)} entries -> {r.summary()} in {time.time() - t:.0f} s; "
              f"{sum(g.num_atoms for g in r.graphs)} atoms; cache {cache.root} ({cache.size_bytes() / 2**20:.0f} MiB)")


def cmd_data_download(args):
    """`aecgcnn data download NAME ...`: fetch (or rebuild from the public sources) the files of each dataset into the
    data root."""
    from aecgcnn.data.datasets import DATASETS, resolve_data_dir
    from aecgcnn.data.rebuild import download
    from aecgcnn.data.sources import FILES
    root = resolve_data_dir(args.data_dir, allow_demo=False)
    for name in args.names:
        if name not in DATASETS:
            raise InputError(f"{name}: unknown dataset; choose from {sorted(DATASETS)}")
        for rel in DATASETS[name].files:
            if rel not in FILES:
                raise InputError(f"{name}: {DATASETS[name].description}")
            path, done = download(rel, root, args.mirror)
            print(f"{rel}: {'present, SHA-256 verified' if done == 'verified' else 'rebuilt from upstream, checked against the manifest'} ({path})")


def _parse_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE parsed as JSON when possible (``n_heads=4``, ``init=fused``)."""
    if "=" not in text:
        raise InputError(f"--model-option {text!r}: expected KEY=VALUE")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def _add_model_and_cifs(q, out: str) -> None:
    """The arguments of the commands that apply a model to CIFs: CHECKPOINT (file, run or ensemble folder),
    PATHS (CIF files or folders) and --out."""
    q.add_argument("checkpoint", nargs="?", help="a checkpoint, a run or ensemble folder, or a pretrained model's "
                                                  "name (aecgcnn models)")
    q.add_argument("paths", nargs="+", help="CIF files or folders of CIFs")
    q.add_argument("--pretrained", default=None, metavar="NAME",
                   help="use a model shipped with the package (a model or dataset name, see aecgcnn models); "
                        "every positional argument is then a CIF path")
    q.add_argument("--out", default=out)
    _add_edge_precision(q)


def _add_edge_precision(q, default: str = "as the model was trained") -> None:
    """``--edge-precision`` (:data:`aecgcnn.models.fused.EDGE_PRECISIONS`; None when not given)."""
    from aecgcnn.models.fused import EDGE_PRECISIONS
    q.add_argument("--edge-precision", choices=sorted(EDGE_PRECISIONS), default=None,
                   help=f"per-edge GEMMs of the attention layers on CPU (default: {default}; docs/performance.md)")


def _model_and_paths(args) -> tuple[str, list[str]]:
    """(checkpoint source, CIF paths) of a command built by :func:`_add_model_and_cifs`."""
    if args.pretrained:
        return args.pretrained, ([args.checkpoint] if args.checkpoint else []) + args.paths
    if not args.checkpoint:
        raise InputError("give a checkpoint (file, run or ensemble folder, or a model name) before the CIF paths, "
                         "or --pretrained NAME")
    return args.checkpoint, args.paths


def _experiment_from_args(args):
    from aecgcnn.experiment import Experiment, experiment_from_dict
    if getattr(args, "config", None):
        try:
            record = json.loads(Path(args.config).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{args.config}: cannot read the run configuration ({exc})") from None
        exp = experiment_from_dict(record, args.config)
        return replace(exp, resume=exp.resume or args.resume)
    if not args.dataset:
        raise InputError("aecgcnn train needs --dataset (or --config with a run configuration)")
    overrides = dict(_parse_option(o) for o in args.model_option or [])
    for key in ("geo_features", "atom_features", "activation"):
        if getattr(args, key):
            overrides[key] = getattr(args, key)
    preset = "geocgnn" if args.model == "geocgnn" else args.preset
    if preset == "geocgnn" and args.geo_features:
        overrides = {"use_plane_waves": "plane" in args.geo_features}
    return Experiment(dataset=args.dataset, preset=preset, overrides=overrides, split=args.split, seed=args.seed,
                      epochs=args.epochs, train_size=args.train_size, val_size=args.val_size,
                      test_size=args.test_size, split_seed=args.split_seed, batch_size=args.batch_size, lr=args.lr,
                      weight_decay=args.weight_decay, protocol=args.protocol, device=args.device, amp=args.amp,
                      **({"edge_precision": args.edge_precision} if args.edge_precision else {}),
                      compile=args.compile, data_dir=args.data_dir, cache_dir=args.cache_dir, out_dir=args.out,
                      resume=getattr(args, "resume", False), cutoff=args.cutoff, max_neighbors=args.max_neighbors,
                      init_from=args.init_from, freeze=args.freeze, lr_schedule=args.lr_schedule,
                      warmup_epochs=args.warmup_epochs, patience=args.patience)


def cmd_train(args):
    """`aecgcnn train`: one run (flags or ``--config run.json``) to ``--out``: checkpoint, history, metrics, test
    predictions; joins a process group under torchrun."""
    from aecgcnn import distributed
    exp = _experiment_from_args(args)
    ctx = distributed.init_from_env(exp.device)  # torchrun: join the process group (gloo on CPU, NCCL on GPU)
    try:
        _train(args, exp, ctx.is_main)
    finally:
        distributed.shutdown()


def _train(args, exp, main: bool) -> None:
    """The body of ``aecgcnn train`` (``main``: this process prints; the other torchrun ranks stay quiet)."""
    from aecgcnn.experiment import run_experiment
    if args.seeds:
        from aecgcnn.experiment import train_ensemble
        m = train_ensemble(exp, args.seeds)
        if not main:
            return
        t, c = m["test"], m["calibration"]
        print(f"ensemble of {len(args.seeds)} (seeds {args.seeds}, shared split seed {m['experiment']['split_seed']}): "
              f"test MAE {t['mae']:.4f} {m['units']} (members {m['member_test']['mae'][0]:.4f} ± "
              f"{m['member_test']['mae'][1]:.4f}); within ±1σ {c['within_1sigma']:.2f} (Gaussian 0.68), ±2σ "
              f"{c['within_2sigma']:.2f} (0.95), Spearman(|error|, σ) {c['spearman_abs_error_sigma']:.2f}")
        print(f"wrote {Path(exp.out_dir)}/ensemble.json, metrics.json, test_predictions.csv (mean, std), seed*/")
        return
    m = run_experiment(exp)
    if not main:
        return
    t = m["test"]
    print(f"test: MAE {t['mae']:.4f} {m['units']}  RMSE {t['rmse']:.4f}  R2 {t['r2']:.3f}  SRCC {t['srcc']:.3f} "
          f"(n={t['n']}, best epoch {m['best_epoch']}, {m['train_seconds']:.0f} s on {m['provenance']['device']})")
    print(f"wrote {Path(exp.out_dir) / 'checkpoint.pt'}, history.csv, metrics.json, test_predictions.csv")


def cmd_predict(args):
    """`aecgcnn predict`: predictions (and with ``--attention`` per-atom attention) of a checkpoint, ensemble or shipped
    model for CIF files or folders (:meth:`aecgcnn.api.Model.predict`); skipped files are listed beside the output."""
    from aecgcnn.api import load_model
    from aecgcnn.predict import fail_when_nothing_done, report_failures
    from aecgcnn.train import resolve_device
    source, paths = _model_and_paths(args)
    out = writable_output(args.out)
    if args.attention:
        writable_output(args.attention, "--attention")
    model = load_model(source, resolve_device(args.device))
    table = model.predict(paths, cache_dir=args.cache_dir, precision=args.edge_precision, progress=True)
    skipped = out.with_name(out.stem + "_skipped.csv")
    failures = table.attrs["skipped"]
    fail_when_nothing_done(len(table), failures, skipped, "predicted")
    table.to_csv(out, index=False)
    print(f"predicted {len(table)} structures -> {out}")
    if args.attention:
        model.explain(paths, cache_dir=args.cache_dir).to_csv(args.attention, index=False)
        print(f"per-atom attention (pooling weight 'importance', neighbour attention received 'recv_*') -> "
              f"{args.attention}")
    report_failures(failures, skipped)


def cmd_screen(args):
    """`aecgcnn screen`: rank many structures by a model's prediction, resumable, writing as it goes; optionally the
    attention of the top ones."""
    from aecgcnn.api import load_model
    from aecgcnn.explain import explain_graphs
    from aecgcnn.screen import screen, top_structures
    from aecgcnn.train import resolve_device
    writable_output(args.out)
    model = load_model(args.checkpoint, resolve_device(args.device))
    if args.top_attention and not hasattr(model, "net"):
        raise InputError(f"{args.checkpoint}: a descriptor model has no attention (--top-attention)")
    r = screen(getattr(model, "net", model), model.meta, args.sources, args.out, batch_size=args.batch_size, workers=args.workers,
               descending=not args.ascending, device=model.device, precision=args.edge_precision,
               max_bytes=int(args.max_cif_mb * 2**20), domain=args.domain)
    print(f"screened {r.n_predicted} structures ({r.n_skipped} skipped"
          + (f", listed in {r.skipped}" if r.skipped else "") + (f"; {r.n_done_before} done before, resumed"
                                                               if r.n_done_before else "") + f") -> {r.ranked}")
    if args.top_attention:
        single = model.net.members[0] if model.is_ensemble else model.net
        ids, graphs = top_structures(r.ranked, args.sources, args.top_attention, model.meta["graph_settings"])
        atoms, _ = explain_graphs(single.cpu(), graphs, ids)
        path = Path(args.out).with_name(Path(args.out).stem + f"_top{args.top_attention}_atoms.csv")
        atoms.to_csv(path, index=False)
        print(f"per-atom attention of the top {len(ids)} -> {path}")


def cmd_evaluate(args):
    """`aecgcnn evaluate`: a checkpoint's metrics (JSON on stdout) on a split of its own dataset or of another one;
    ensembles add the calibration of their σ."""
    from aecgcnn.api import load_model
    from aecgcnn.checkpoint import trained_edge_precision
    from aecgcnn.ensemble import predict_with_std
    from aecgcnn.experiment import evaluation_set
    from aecgcnn.metrics import calibration
    from aecgcnn.train import evaluate, resolve_device
    device = resolve_device(args.device)
    model = load_model(args.checkpoint, device)
    dataset, data = evaluation_set(model.meta, args.split, args.dataset, args.split_file, args.data_dir,
                                   args.cache_dir)
    m = evaluate(model.net, data, device=device, edge_precision=trained_edge_precision(model.meta))  # as tested
    if model.is_ensemble:  # how well its σ describes its errors
        mean, std, target = predict_with_std(model.net, data, device=device)
        m["calibration"] = calibration(target, mean, std)
    print(json.dumps({"checkpoint": str(args.checkpoint), "dataset": dataset, "split": args.split, **m}, indent=2))


def cmd_baseline(args):
    """`aecgcnn baseline`: the Moosavi-style descriptor baseline (random forest or gradient boosting on chemistry
    descriptors from the CIF and Zeo++ pore geometry), one fit per seed, mean ± std printed."""
    from aecgcnn.baselines.descriptors import run_descriptor_baseline
    from aecgcnn.metrics import aggregate
    runs = []
    for seed in args.seeds:
        out = Path(args.out) / f"seed{seed}" if args.out else None
        m = run_descriptor_baseline(args.dataset, args.split, seed, args.regressor, args.data_dir, args.cache_dir,
                                    not args.no_geometry, out, args.train_size, args.val_size, args.test_size,
                                    args.portable)
        runs.append(m["test"])
        print(f"seed {seed}: test MAE {m['test']['mae']:.4f} {m['units']}  SRCC {m['test']['srcc']:.3f}  "
              f"R2 {m['test']['r2']:.3f} (n={m['test']['n']}, {m['n_features']} descriptors)")
    agg = aggregate(runs)
    print("mean ± std over seeds: " + ", ".join(f"{k} {agg[k][0]:.4f} ± {agg[k][1]:.4f}" for k in ("mae", "srcc", "r2")))


def cmd_explain(args):
    """`aecgcnn explain`: per-atom attention of one model for CIF files: tables, figures and importance statistics under
    ``--out``."""
    from aecgcnn.api import load_model
    from aecgcnn.explain import explain_graphs, write_explanation
    from aecgcnn.predict import fail_when_nothing_done, report_failures
    source, paths = _model_and_paths(args)
    out = Path(args.out)
    writable_output(out / "atoms.csv")
    model = load_model(source, "cpu")
    if model.is_ensemble:
        raise InputError(f"{source}: explain needs one model, not an ensemble: pass a member "
                         f"({Path(source) / model.meta['members'][0]})")
    ids, _, graph_list, failures = model.graphs(paths, args.cache_dir, progress=True)
    fail_when_nothing_done(len(ids), failures, out / "skipped.csv", "explained")
    atoms, extra = explain_graphs(model.net, graph_list, ids)
    stats = write_explanation(atoms, extra, dict(zip(ids, graph_list)), out, args.top_k, args.max_figures,
                              model.units)
    print(f"explained {len(ids)} structures -> {out} (atoms.csv, head_weights.csv, structures/, figures/, "
          f"importance_by_*.csv)")
    print(stats["metal"].to_string(index=False))
    report_failures(failures, out / "skipped.csv")


def cmd_geometry(args):
    """`aecgcnn geometry CIFS...`: Zeo++ pore geometry of every CIF (CoRE-2019's columns) to a CSV, bad files
    listed with their reason."""
    from aecgcnn.geometry import pore_geometry
    from aecgcnn.predict import fail_when_nothing_done, report_failures
    out = writable_output(args.out)
    table = pore_geometry(args.paths, workers=args.workers, probe=args.probe)
    good = table[table["problem"] == ""]
    failures = [(r.id, r.problem) for r in table.itertuples() if r.problem]
    skipped = out.with_name(out.stem + "_skipped.csv")
    fail_when_nothing_done(len(good), failures, skipped, "measured")
    good.drop(columns="problem").to_csv(out, index=False)
    print(f"pore geometry of {len(good)} structures -> {out}")
    report_failures(failures, skipped)


def cmd_domain(args):
    """`aecgcnn domain CHECKPOINT`: fit a saved model's applicability domain on its own training and validation
    crystals and store it in the checkpoint (models trained before domains existed)."""
    from aecgcnn.experiment import fit_checkpoint_domain
    from aecgcnn.train import resolve_device
    summary = fit_checkpoint_domain(args.checkpoint, args.out, args.data_dir, args.cache_dir,
                                    resolve_device(args.device))
    print(f"domain of {args.checkpoint}: {summary['n_reference']} reference crystals of {summary['n_train']}, "
          f"k={summary['k']}, threshold {summary['threshold']:.3f} (the {summary['percentile']:g}th percentile of "
          f"{summary['n_val']} validation crystals), {len(summary['elements'])} training elements -> "
          f"{args.out or args.checkpoint}")


NOTEBOOKS = {"quickstart": "00_quickstart", "curves": "01_training_curves", "table1": "02_table1_ablation",
             "table2": "03_table2_splits", "table3": "04_table3_geocgnn", "attention": "05_attention"}


def cmd_models(args):
    """`aecgcnn models`: the pretrained models shipped with the package, one card each."""
    from aecgcnn.pretrained import PRETRAINED_DIR, cards, describe
    shipped = cards()
    if not shipped:
        print(f"no pretrained models in {PRETRAINED_DIR}")
    for card in shipped:
        print(describe(card) + "\n")


def cmd_status(args):
    """`aecgcnn status PATH ...`: a table of the runs under the paths (state, epoch, best validation MAE, pace, time
    still needed)."""
    from aecgcnn.workflow.status import estimate_paces, find_runs, is_training, run_status, status_table
    if args.processes is not None and args.processes < 1:
        raise InputError(f"--processes {args.processes}: give 1 or more")
    try:
        runs = find_runs(args.paths)
    except FileNotFoundError as exc:
        raise InputError(str(exc)) from None
    statuses = estimate_paces([run_status(r) for r in runs])
    if args.open:
        statuses = [s for s in statuses if s["state"] != "finished"]
    root = Path(args.paths[0]) if len(args.paths) == 1 else None
    processes = args.processes or max(1, sum(map(is_training, statuses)))
    print("\n".join(status_table(statuses, root, processes)))
    if any(s["state"] == "interrupted" for s in statuses):
        print("interrupted runs continue where they stopped when their notebook is rerun, or with "
              "`aecgcnn train --config RUN/run.json --resume` (runs that have a run.json)")


def cmd_archive(args):
    """`aecgcnn archive save|restore`: copy finished runs' records (and with ``--states`` training states) between a
    runs folder and the repository's archive."""
    from aecgcnn.workflow.archive import restore_runs, save_runs
    if args.action == "save":
        if not Path(args.runs).is_dir():
            raise InputError(f"{args.runs}: no such runs folder")
        report = save_runs(args.runs, args.archive, models=args.models, states=args.states)
        print(report.summary(f"{args.runs} -> {args.archive}: saved"))
    else:
        try:
            report = restore_runs(args.archive, args.runs)
        except FileNotFoundError as exc:
            raise InputError(str(exc)) from None
        print(report.summary(f"{args.archive} -> {args.runs}: restored"))
    target = Path(args.archive if args.action == "save" else args.runs)
    for rel in report.states:  # large files: say how large, before they are committed
        state = target / rel / "train_state.pt"
        print(f"  training state: {rel}" + (f" ({state.stat().st_size / 1e6:.1f} MB)" if state.exists() else ""))


#: notebook parameters that are paths (relative ones are read from where `aecgcnn reproduce` is run)
NOTEBOOK_PATH_PARAMETERS = ("out_dir", "data_dir")


def _shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (shorter to copy), else as it is."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def cmd_reproduce(args):
    """`aecgcnn reproduce NAME`: run a notebook (or ``all``) through papermill with the profile and ``-p`` parameters,
    after checking that each notebook has them."""
    import papermill as pm

    from aecgcnn.workflow.archive import restore_hint
    from aecgcnn.workflow.reports import runs_dir
    from aecgcnn.workflow.repo import repository
    root = repository() / "notebooks"
    names = list(NOTEBOOKS) if args.name == "all" else [args.name]
    # executed notebooks go under runs/ (ignored by git and by the notebook tests), never beside the sources
    out_dir = Path(args.out_dir) if args.out_dir else root.parent / "runs" / args.profile / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {"profile": args.profile}
    for key, value in args.param or []:
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    for key in NOTEBOOK_PATH_PARAMETERS:  # the notebook runs in notebooks/: paths are the caller's, so absolute
        if isinstance(params.get(key), str):
            params[key] = str(Path(params[key]).resolve())
    stems = [NOTEBOOKS.get(name, name) for name in names]
    for stem in stems:  # every notebook checked before any runs (`all`: hours in, a later one would refuse)
        known = pm.inspect_notebook(str(root / f"{stem}.ipynb"))  # the names of its parameters cell
        if unknown := sorted(set(params) - set(known)):  # papermill would inject them unread: a typo does nothing
            raise InputError(f"{stem}.ipynb has no parameter {', '.join(unknown)}; its parameters: {', '.join(known)}")
    runs = runs_dir(str(params["profile"]), params.get("out_dir"))
    if hint := restore_hint(runs):
        print(f"[aecgcnn] {hint}")
    for stem in stems:
        executed = out_dir / executed_notebook_name(stem, params)
        print(f"running {stem}.ipynb with {params} (executed copy: {executed}; the progress of its "
              f"training runs: aecgcnn status {_shown_path(runs)} --open)")
        pm.execute_notebook(str(root / f"{stem}.ipynb"), str(executed), parameters=params, cwd=str(root),
                            progress_bar=True)


def executed_notebook_name(stem: str, params: dict) -> str:
    """File name of a notebook's executed copy: ``<stem>.ipynb`` for the profile alone, else named after the other
    parameters too (``04_table3_geocgnn,finished_only=true.ipynb``), so a finished-only look or a side study started
    beside a running notebook never overwrites that notebook's executed copy."""
    from aecgcnn.workflow.studies import variant_name
    name = variant_name({k: v for k, v in params.items() if k != "profile"})
    return f"{stem},{name}.ipynb" if name else f"{stem}.ipynb"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``aecgcnn`` command, one sub-command per ``cmd_*`` function."""
    from dataclasses import fields

    from aecgcnn.experiment import Experiment
    from aecgcnn.features import ATOM_FEATURES
    from aecgcnn.models import LADDER
    from aecgcnn.models.aecgcnn import ACTIVATIONS
    from aecgcnn.config import PROTOCOLS
    run = {f.name: f.default for f in fields(Experiment)}  # train's defaults are the run configuration's
    p = argparse.ArgumentParser(prog="aecgcnn", description="AE-CGCNN: attention-everywhere crystal graph networks")
    p.add_argument("--version", action="version", version=__version__)
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="datasets: list, build graphs, download")
    dsub = data.add_subparsers(dest="data_command", required=True)
    q = dsub.add_parser("list", help="every dataset with its entry count, target, units and presence")
    _add_common(q)
    q.set_defaults(func=cmd_data_list)
    q = dsub.add_parser("build", help="build and cache the graphs of datasets")
    q.add_argument("names", nargs="+")
    q.add_argument("--workers", type=int, default=None)
    q.add_argument("--cutoff", type=float, default=GraphSettings.cutoff)
    q.add_argument("--max-neighbors", type=int, default=GraphSettings.max_neighbors)
    q.add_argument("--report-dir", default="reports")
    _add_common(q)
    q.set_defaults(func=cmd_data_build)
    q = dsub.add_parser("download", help="verify the data files, or rebuild missing ones from their public upstream "
                                         "sources (needs internet)")
    q.add_argument("--mirror", default=None, metavar="URL",
                   help="fetch upstream files from a mirror: https://raw.githubusercontent.com/P as URL/P, "
                        "https://HOST/P as URL/HOST/P")
    q.add_argument("names", nargs="+")
    _add_common(q)
    q.set_defaults(func=cmd_data_download)

    t = sub.add_parser("train", help="train a model and test the best-validation checkpoint")
    t.add_argument("--dataset", default=None,
                   help="named dataset, CGCNN-layout folder or CSV/JSONL table (required unless --config)")
    t.add_argument("--preset", default=run["preset"], choices=LADDER + ["geocgnn"])
    t.add_argument("--model", default="aecgcnn", choices=["aecgcnn", "geocgnn"])
    t.add_argument("--geo-features", default=None, choices=["none", "radial", "plane", "radial+plane"],
                   help="override the preset's GeoCGNN edge features (Table III: radial)")
    t.add_argument("--protocol", default=run["protocol"], choices=list(PROTOCOLS),
                   help="named recipe: model options + optimiser settings (aecgcnn.protocols); flags below override")
    t.add_argument("--atom-features", default=None, choices=list(ATOM_FEATURES),
                   help="node input: onehot (paper) | cgcnn (element properties)")
    t.add_argument("--activation", default=None, choices=list(ACTIVATIONS), help="relu (paper) | softplus")
    t.add_argument("--model-option", action="append", metavar="KEY=VALUE",
                   help="any AE-CGCNN config key, e.g. node_dim=128 n_heads=4 (repeatable)")
    t.add_argument("--epochs", type=int, default=None, help="default: the protocol's (50)")
    t.add_argument("--train-size", type=int, default=None)
    t.add_argument("--val-size", type=int, default=None)
    t.add_argument("--test-size", type=int, default=None)
    t.add_argument("--seed", type=int, default=run["seed"])
    t.add_argument("--cutoff", type=float, default=run["cutoff"],
                   help="neighbour radius (Å) of the graphs and of the model's Gaussian and radial bases")
    t.add_argument("--max-neighbors", type=int, default=run["max_neighbors"], help="neighbour slots per atom")
    t.add_argument("--init-from", default=None, metavar="MODEL",
                   help="fine-tune: start from the weights of a trained model (a shipped model's name, a checkpoint or "
                        "a run folder); its architecture and options are kept, the target normaliser is refitted")
    t.add_argument("--freeze", choices=["embedding", "convs"], default=None,
                   help="with --init-from: keep the starting model's atom/edge embeddings (embedding) or also every "
                        "convolution (convs: only the pooling and the readout learn)")
    t.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="train an ensemble, one member per seed on one shared split, into OUT/seed<k>; predictions "
                        "of the folder are the members' mean with their standard deviation")
    t.add_argument("--split-seed", type=int, default=None,
                   help="seed of the split and of the size subsets (default: --seed); fix it to vary only the model seed")
    t.add_argument("--split", default=run["split"], help="80-10-10 | 70-30 | file | fold0..4 | a split .json")
    t.add_argument("--batch-size", type=int, default=None, help="default: the protocol's (paper 64, reference-cgcnn 256)")
    t.add_argument("--lr", type=float, default=None, help="default: the protocol's (1e-3)")
    t.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=run["lr_schedule"],
                   help="learning rate per epoch: constant (the paper's), cosine (down to 1%% at the last epoch), "
                        "plateau (halved after 5 epochs without a better validation MAE)")
    t.add_argument("--warmup-epochs", type=int, default=run["warmup_epochs"], help="linear warm-up of the rate")
    t.add_argument("--patience", type=int, default=run["patience"],
                   help="stop after this many epochs without a better validation MAE (--epochs is then the cap)")
    t.add_argument("--weight-decay", type=float, default=None, help="default: the protocol's (paper 5e-4, reference-cgcnn 0); GeoCGNN: 0, as its published code")
    t.add_argument("--device", default=run["device"])
    t.add_argument("--amp", action="store_true", help="bf16 autocast on CUDA")
    _add_edge_precision(t, "the dataset task's: bf16 for formation energies, fp32 for MOF uptakes and your own data")
    t.add_argument("--compile", action="store_true",
                   help="torch.compile the rest of the model too (the conv kernels are compiled anyway; measured: no gain)")
    t.add_argument("--out", default="runs/latest")
    t.add_argument("--config", default=None, metavar="JSON",
                   help="the whole run configuration from a JSON file (Experiment fields, e.g. a run's run.json or "
                        "metrics.json); other flags except --resume are then ignored; unknown keys are errors")
    t.add_argument("--resume", action="store_true",
                   help="continue from OUT/train_state.pt (written after every epoch): a killed run loses at most "
                        "one epoch and continues bit for bit; --epochs may be raised to extend a run")
    _add_common(t)
    t.set_defaults(func=cmd_train)

    q = sub.add_parser("predict", help="predict CIF files (or folders of CIFs) with a checkpoint")
    _add_model_and_cifs(q, "predictions.csv")
    q.add_argument("--attention", default=None,
                   help="also write the per-atom attention table (pooling weight, neighbour attention received; "
                        "as aecgcnn explain) to this CSV")
    q.add_argument("--device", default="auto")
    q.add_argument("--cache-dir", default=None)
    q.set_defaults(func=cmd_predict)

    q = sub.add_parser("models", help="the pretrained models shipped with the package, with their model cards")
    q.set_defaults(func=cmd_models)

    q = sub.add_parser("screen", help="rank a large CIF collection (folders, .tar[.gz|.xz|.bz2], .zip) by "
                                      "prediction: streamed, parallel, resumable")
    q.add_argument("checkpoint", help="a checkpoint, run folder or ensemble folder (adds the σ column)")
    q.add_argument("sources", nargs="+", help="CIF files, folders (searched recursively) or archives")
    q.add_argument("--out", default="ranked.csv")
    q.add_argument("--ascending", action="store_true", help="rank the lowest prediction first")
    q.add_argument("--workers", type=int, default=None, help="graph-building processes (default: CPU count)")
    q.add_argument("--batch-size", type=int, default=PREDICT_BATCH_SIZE)
    q.add_argument("--max-cif-mb", type=float, default=MAX_CIF_BYTES / 2**20, metavar="MB",
                   help="skip a CIF (file or archive member) larger than this, with that reason (default: %(default)g)")
    q.add_argument("--domain", choices=DOMAIN_MODES, default=DOMAIN_MODES[0],
                   help="structures outside the model's applicability domain: keep (ranked with the others; the "
                        "in_domain column says it), last (ranked after every in-domain one), drop (left out, listed "
                        "in <out stem>_outside_domain.csv)")
    q.add_argument("--top-attention", type=int, default=0, metavar="K",
                   help="also write the per-atom attention table of the K best-ranked structures")
    q.add_argument("--device", default="auto")
    _add_edge_precision(q)
    q.set_defaults(func=cmd_screen)

    q = sub.add_parser("geometry", help="Zeo++ pore geometry of CIF files (pore diameters, surface areas, pore "
                                        "volumes, density; the CoRE-2019 columns)")
    q.add_argument("paths", nargs="+", help="CIF files or folders of CIFs")
    q.add_argument("--out", default="geometry.csv")
    q.add_argument("--workers", type=int, default=1, help="Zeo++ processes side by side")
    q.add_argument("--probe", type=float, default=PROBE_RADIUS, help="probe radius (Å) of areas and volumes "
                                                                      "(default: N2, as the CoRE-2019 table)")
    q.set_defaults(func=cmd_geometry)

    q = sub.add_parser("baseline", help="Moosavi-style descriptor baseline (random forest / gradient boosting)")
    q.add_argument("--dataset", required=True)
    q.add_argument("--split", default="70-30")
    q.add_argument("--seeds", type=int, nargs="+", default=[0])
    q.add_argument("--regressor", default="rf", choices=["rf", "gb"])
    q.add_argument("--no-geometry", action="store_true", help="chemistry descriptors only")
    q.add_argument("--portable", action="store_true",
                   help="only descriptors any CIF yields (chemistry + the pore geometry `aecgcnn geometry` computes); "
                        "with --out the fitted model is saved there (<out>/seed<k>/descriptor_model.npz) and `aecgcnn "
                        "predict <out>/seed<k> CIFS` uses it on new CIFs")
    q.add_argument("--train-size", type=int, default=None,
                   help="fit on this many of the train part, drawn as `train --train-size` draws them (default: all)")
    q.add_argument("--val-size", type=int, default=None,
                   help="with this many of the val part, drawn as `train --val-size` draws them (default: all)")
    q.add_argument("--test-size", type=int, default=None,
                   help="test on this many of the test part, drawn as `train --test-size` draws them (default: all)")
    q.add_argument("--out", default=None)
    _add_common(q)
    q.set_defaults(func=cmd_baseline)

    q = sub.add_parser("explain", help="per-atom attention: CSV, XYZ/CIF with importance, Figure 3 views, statistics")
    _add_model_and_cifs(q, "explain")
    q.add_argument("--top-k", type=int, default=3)
    q.add_argument("--max-figures", type=int, default=10)
    q.add_argument("--cache-dir", default=None)
    q.set_defaults(func=cmd_explain)

    q = sub.add_parser("reproduce", help="run a paper notebook through papermill")
    q.add_argument("name", choices=["all"] + list(NOTEBOOKS))
    q.add_argument("--profile", default="quick", choices=["quick", "cpu", "paper"])
    q.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                   help="notebook parameter (VALUE parsed as JSON when possible)")
    q.add_argument("--out-dir", default=None, help="where the executed notebooks go (default runs/<profile>/notebooks)")
    q.set_defaults(func=cmd_reproduce)

    q = sub.add_parser("status", help="where long runs stand: state (finished, training, interrupted, not started), "
                                      "epochs done, best validation MAE, time still needed (every run folder under "
                                      "the given folders)")
    q.add_argument("paths", nargs="*", default=["runs"], help="folders to search (default: runs)")
    q.add_argument("--open", action="store_true", help="only the runs that have not finished")
    q.add_argument("--processes", type=int, default=None,
                   help="also give the time still needed on this many processes training in parallel (default: "
                        "as many as runs are training now)")
    q.set_defaults(func=cmd_status)

    q = sub.add_parser("archive", help="copy finished runs' records (and training states) between runs/ and a folder "
                                       "committed with the code, so long studies outlive the machine")
    q.add_argument("action", choices=["save", "restore"], help="save: runs -> archive; restore: archive -> runs "
                                                                "(never over a finished, further-along or busy run)")
    q.add_argument("--runs", default="runs", help="the run folders (default: runs)")
    q.add_argument("--archive", default="results/runs", help="the archive (default: results/runs)")
    q.add_argument("--models", action="store_true", help="save: also the finished runs' checkpoint.pt (MBs each: git "
                                                         "ignores them under results/runs; use an --archive that lasts)")
    q.add_argument("--states", action="store_true", help="save: also the training state of unfinished runs (as "
                                                         "--models: several MB each, not committed)")
    q.set_defaults(func=cmd_archive)

    q = sub.add_parser("domain", help="fit a model's applicability domain (embedding distance to its training "
                                      "crystals, elements seen) and store it in its checkpoint")
    q.add_argument("checkpoint", help="a checkpoint or run folder that records its experiment")
    q.add_argument("--out", default=None, help="write the checkpoint with its domain here (default: in place)")
    q.add_argument("--device", default="auto")
    _add_common(q)
    q.set_defaults(func=cmd_domain)

    q = sub.add_parser("evaluate", help="metrics of a checkpoint on a split of a dataset")
    q.add_argument("checkpoint")
    q.add_argument("--dataset", default=None, help="default: the checkpoint's dataset")
    q.add_argument("--split", default="test", choices=["train", "val", "test", "all"])
    q.add_argument("--split-file", default=None)
    q.add_argument("--device", default="auto")
    _add_common(q)
    q.set_defaults(func=cmd_evaluate)
    return p


def main(argv=None) -> int:
    """Entry point of the ``aecgcnn`` command: 0 on success, 2 (with the message on stderr) on bad input."""
    from aecgcnn.data.datasets import absolutize_data_env
    absolutize_data_env()  # notebooks run by `reproduce` start in notebooks/: hand them an absolute path
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except InputError as exc:
        print(f"aecgcnn: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
