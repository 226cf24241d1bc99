"""Notebook 04 (Table III) with parameters the nbval run leaves at their defaults: run through papermill, as
`aecgcnn reproduce` runs it, on the demo sample with the quick profile."""
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def run_notebook(tmp_path, monkeypatch, **parameters):
    """Notebook 04 through papermill on the demo sample, quick profile, everything written under ``tmp_path``."""
    import papermill as pm
    monkeypatch.delenv("AECGCNN_DATA", raising=False)  # the demo sample
    pm.execute_notebook(str(ROOT / "notebooks" / "04_table3_geocgnn.ipynb"), str(tmp_path / "executed.ipynb"),
                        parameters={"profile": "quick", "out_dir": str(tmp_path), **parameters},
                        cwd=str(ROOT / "notebooks"), progress_bar=False)


def test_train_side_trains_the_geocgnn_side_column_at_every_size(tmp_path, monkeypatch):
    """`train_side=True` queues GeoCGNN with the protocol's weight decay (5e-4) after the table's own runs, in the
    side column's folders, and the table shows it beside GeoCGNN with its own weight decay (0): a different model
    run, so its test MAE differs from the run beside it."""
    import json
    run_notebook(tmp_path, monkeypatch, train_side=True, sizes=[100])  # one size: the quick profile's first
    table = pd.read_csv(tmp_path / "data=demo" / "table3_geocgnn.csv")
    side = "GeoCGNN, wd 0.0005 (ours)"
    assert list(table["train size"]) == [100] and table[side].notna().all()
    by_size = table.set_index("train size")
    runs = tmp_path / "runs/mp-megnet-2018/learning-curve/geocgnn"
    for n in (100,):
        side_run = json.loads((runs / "data=demo,weight_decay=0.0005" / f"n{n}/seed0/metrics.json").read_text())
        own_run = json.loads((runs / "data=demo" / f"n{n}/seed0/metrics.json").read_text())
        assert side_run["train_settings"]["weight_decay"] == 0.0005 and own_run["train_settings"]["weight_decay"] == 0
        assert abs(side_run["test"]["mae"] - by_size.loc[n, side]) < 1e-4
        assert abs(own_run["test"]["mae"] - by_size.loc[n, "GeoCGNN (ours)"]) < 1e-4
        # a different model run: the quick profile's few epochs move the test MAE by about 1e-4, which the table's
        # four decimals may round away on another CPU, so compare the runs at full precision
        assert side_run["test"]["mae"] != own_run["test"]["mae"]


def test_train_side_refuses_when_there_is_no_side_column(tmp_path, monkeypatch):
    """With an explicit `weight_decay` both models train with it, so there is no side column: `train_side=True` is
    refused with the reason, before any run starts, instead of doing nothing."""
    from papermill.exceptions import PapermillExecutionError
    try:
        run_notebook(tmp_path, monkeypatch, train_side=True, weight_decay=0.0005)
    except PapermillExecutionError as error:
        assert error.ename == "ValueError" and "no side column" in error.evalue and "weight_decay=0.0005" in error.evalue
    else:
        raise AssertionError("train_side with an explicit weight_decay ran")
    assert not (tmp_path / "runs").exists()
