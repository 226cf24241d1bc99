"""Bad inputs never hang a job, poison a resume or disappear silently; hostile files never run code.

The bad-CIF corpus is :mod:`bad_inputs`; each case must be skipped with a reason naming its file and problem by the
graph builder, ``predict`` and ``screen``, and no case may stall a job (a per-structure time limit backs the checks)."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from bad_inputs import BAD, p1_cif, write_corpus
from pymatgen.core import Lattice, Structure

from aecgcnn import InputError
from aecgcnn.cli import main
from aecgcnn.data.cache import safe_graph
from aecgcnn.data.workers import map_limited
from aecgcnn.graph import GraphSettings, build_graph
from aecgcnn.screen import ROW_FIELDS, open_journal

MODEL = "mp-megnet-2018"  # a small shipped model: loads in a second, any crystal is in its input space


@pytest.mark.parametrize("name", sorted(BAD))
def test_every_bad_cif_is_refused_with_a_reason_naming_file_and_problem(name):
    text, phrase = BAD[name]
    text = text.decode(errors="replace") if isinstance(text, bytes) else text
    t = time.monotonic()
    graph, err = safe_graph(text, f"dir/{name}.cif", GraphSettings())
    assert graph is None and err.startswith(f"dir/{name}.cif: ") and phrase in err, err
    assert time.monotonic() - t < 5


def test_the_good_cell_of_the_corpus_builds():
    graph, err = safe_graph(p1_cif(), "good.cif", GraphSettings())
    assert err is None and graph.num_atoms == 2


def test_a_structure_object_with_a_degenerate_lattice_is_refused_before_the_neighbour_search():
    flat = Structure(Lattice([[4, 0, 0], [0, 4, 0], [2, 2, 1e-9]]), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(InputError, match="coplanar"):
        build_graph(flat, source="flat")
    thin = Structure(Lattice([[4, 0, 0], [0, 4, 0], [0, 0, 0.02]]), ["H"], [[0, 0, 0]])  # 0.32 Å³: refused too
    with pytest.raises(InputError, match="flat|thin|coplanar"):
        build_graph(thin, source="thin")
    sheared = Structure(Lattice([[30, 0, 0], [29.9, 0.05, 0], [0, 0, 30]]), ["Na"], [[0, 0, 0]])  # 45 Å³, a sliver
    with pytest.raises(InputError, match="too thin"):
        build_graph(sheared, source="sheared")


def _slow(job):
    time.sleep(job)
    return job


def _fails(job):
    if job == 2:
        raise ValueError("boom")
    return job


def test_a_job_past_its_time_limit_is_stopped_and_reported_while_the_others_finish():
    t = time.monotonic()
    out = list(map_limited(_slow, [0.0, 60.0, 0.1, 0.0], workers=2, time_limit=1.0,
                           on_timeout=lambda job, s: ("timeout", job, s)))
    assert time.monotonic() - t < 10
    assert sorted(x for x in out if not isinstance(x, tuple)) == [0.0, 0.0, 0.1]
    assert ("timeout", 60.0, 1.0) in out
    errors = list(map_limited(_fails, [1, 2, 3], workers=1, on_error=lambda job, msg: (job, msg)))
    assert (2, "ValueError: boom") in errors and 1 in errors and 3 in errors


def test_predict_skips_each_bad_file_with_its_reason_and_predicts_the_good_one(tmp_path, capsys, core_cifs):
    """The bad corpus beside one real CoRE-2019 MOF, predicted by the shipped 0.15 bar model within a minute."""
    folder = tmp_path / "mixed"
    write_corpus(folder, core_cifs["HAWVAE_clean"])
    out = tmp_path / "preds.csv"
    t = time.monotonic()
    assert main(["predict", "--pretrained", "core2019-co2-0.15bar", str(folder), "--out", str(out)]) == 0
    assert time.monotonic() - t < 60
    assert pd.read_csv(out)["id"].tolist() == ["good"]
    skipped = pd.read_csv(tmp_path / "preds_skipped.csv").set_index("id")["problem"]
    assert sorted(skipped.index) == sorted(BAD)
    for name, (_, phrase) in BAD.items():
        assert skipped[name].startswith(str(folder / f"{name}.cif")) and phrase in skipped[name]


def test_predict_reads_folders_recursively_and_fails_when_nothing_was_predicted(tmp_path, capsys):
    nested = tmp_path / "top" / "sub"
    nested.mkdir(parents=True)
    (nested / "x.cif").write_text(p1_cif())
    out = tmp_path / "p.csv"
    assert main(["predict", "--pretrained", MODEL, str(tmp_path / "top"), "--out", str(out)]) == 0
    assert pd.read_csv(out)["id"].tolist() == ["x"]
    (tmp_path / "empty").mkdir()
    assert main(["predict", "--pretrained", MODEL, str(tmp_path / "empty"), "--out", str(out)]) == 2
    assert "no *.cif" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.cif").write_text(BAD["zero_volume_120"][0])
    assert main(["predict", "--pretrained", MODEL, str(bad), "--out", str(tmp_path / "q.csv")]) == 2
    err = capsys.readouterr().err
    assert "no structure predicted" in err and (tmp_path / "q_skipped.csv").exists()


def test_an_unwritable_out_is_a_one_line_error_before_any_work(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    cif = tmp_path / "x.cif"
    cif.write_text(p1_cif())
    for cmd in (["predict", "--pretrained", MODEL, str(cif)], ["screen", MODEL, str(cif)]):
        assert main([*cmd, "--out", str(tmp_path / "afile" / "out.csv")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "afile" in err and "is a file" in err


def _screen_args(model, folder, out):
    return ["screen", model, str(folder), "--out", str(out), "--workers", "1", "--batch-size", "4"]


def _many(folder: Path, n: int = 24) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        (folder / f"m{k:02d}.cif").write_text(p1_cif(cell=(4.0 + 0.02 * k, 4.1, 4.2, 90, 90, 90), name=f"m{k}"))
    return [f"m{k:02d}" for k in range(n)]


@pytest.mark.parametrize("journal", ["", "origin,id,prediction,std,atoms,problem\n/x/m00.cif,m00,1.0",
                                     "/x/m00.cif,m00,1.0,,2,\n"])
def test_a_screen_journal_that_is_empty_cut_or_headerless_is_repaired(tmp_path, journal):
    rows = tmp_path / "ranked.csv.rows.csv"
    rows.write_text(journal)
    good = open_journal(rows)
    with open(rows, newline="") as fh:
        assert next(csv.reader(fh)) == ROW_FIELDS
    assert len(good) == (1 if journal.endswith("\n") and journal.startswith("/x") else 0)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kills and /proc: Linux")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_screen_killed_at_any_point_finishes_on_rerun_with_every_structure_once(tmp_path, sig):
    ids = _many(tmp_path / "cifs")
    out = tmp_path / "ranked.csv"
    rows = Path(str(out) + ".rows.csv")
    cmd = [sys.executable, "-m", "aecgcnn", *_screen_args(MODEL, tmp_path / "cifs", out), "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not rows.exists() and time.monotonic() < deadline:  # killed as soon as its journal exists
        time.sleep(0.01)
    workers = _children(proc.pid)
    os.kill(proc.pid, sig)
    proc.wait()
    time.sleep(1.0)
    assert all(not Path(f"/proc/{w}").exists() or "zombie" in Path(f"/proc/{w}/status").read_text()
               for w in workers)  # the workers ended with their parent
    assert main(_screen_args(MODEL, tmp_path / "cifs", out)) == 0
    table = pd.read_csv(out)
    assert sorted(table["id"]) == ids  # every structure exactly once


def test_id_prop_header_rows_duplicate_ids_and_capped_sizes_are_reported(tmp_path, capsys):
    from aecgcnn.data.datasets import load_entries
    from aecgcnn.experiment import nested_subsets
    folder = tmp_path / "mine"
    folder.mkdir()
    for k in range(3):
        (folder / f"c{k}.cif").write_text(p1_cif())
    (folder / "id_prop.csv").write_text("cif_id,target\nc0,1.0\nc1,2.0\nc2,3.0\nc2,3.0\n")
    entries = load_entries(str(folder))
    assert [e.id for e in entries] == ["c0", "c1", "c2"]
    err = capsys.readouterr().err
    assert "header row" in err and "collapsed (c2)" in err
    (folder / "id_prop.csv").write_text("c0,1.0\nc1,2.0\nc1,2.5\n")
    with pytest.raises(InputError, match="different labels.*c1"):
        load_entries(str(folder))
    parts = nested_subsets({"train": ["a", "b"], "val": ["c"], "test": ["d"]}, 0, val_size=5)
    assert parts["val"] == ["c"] and "--val-size 5 asks for more than the 1" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------
# hostile files: nothing a user hands the package may run code when loaded


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _hostile(path: Path, marker: Path, **fields) -> Path:
    torch.save({"kind": "cgcnn", "config": {}, "payload": _Payload(marker), **fields}, path)
    return path


def test_a_hostile_checkpoint_is_refused_by_every_command_and_runs_nothing(tmp_path, capsys):
    marker = tmp_path / "PWNED"
    bad = _hostile(tmp_path / "hostile.pt", marker)
    cif = tmp_path / "x.cif"
    cif.write_text(p1_cif())
    for cmd in (["predict", str(bad), str(cif), "--out", str(tmp_path / "p.csv")],
                ["evaluate", str(bad)],
                ["explain", str(bad), str(cif), "--out", str(tmp_path / "ex")],
                ["screen", str(bad), str(cif), "--out", str(tmp_path / "s.csv")]):
        assert main(cmd) == 2, cmd
        err = capsys.readouterr().err
        assert str(bad) in err and "holds code" in err, err
    assert not marker.exists()


def test_a_hostile_training_state_is_refused_on_resume_and_archive_restore(tmp_path, capsys, monkeypatch):
    from aecgcnn.workflow.archive import restore_runs
    from aecgcnn.safeload import load_pt
    marker = tmp_path / "PWNED"
    state = _hostile(tmp_path / "train_state.pt", marker, epoch=3)
    with pytest.raises(InputError, match="holds code"):
        load_pt(state, what="training state")
    run = tmp_path / "archive" / "x" / "seed0"
    run.mkdir(parents=True)
    _hostile(run / "train_state.pt", marker, epoch=3)
    (run / "run.json").write_text("{}")
    with pytest.raises(InputError, match="holds code"):
        restore_runs(tmp_path / "archive", tmp_path / "runs")
    assert not marker.exists()


def test_a_real_training_state_with_numpy_rng_loads_under_the_allow_list(tmp_path):
    from aecgcnn.safeload import load_pt
    torch.save({"numpy_rng": np.random.get_state(), "model": {"w": torch.ones(2)}, "history": [{"a": 1.0}]},
               tmp_path / "s.pt")
    s = load_pt(tmp_path / "s.pt")
    assert s["numpy_rng"][0] == "MT19937" and s["model"]["w"].sum() == 2


def test_screen_skips_an_archive_member_or_file_above_the_size_limit(tmp_path):
    import tarfile
    import zipfile
    from aecgcnn.screen import iter_cifs
    small, big = p1_cif(), p1_cif() + "#" * 4000 + "\n"
    (tmp_path / "s.cif").write_text(small)
    (tmp_path / "b.cif").write_text(big)
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("s.cif", small)
        zf.writestr("b.cif", big)
    with tarfile.open(tmp_path / "a.tar.gz", "w:gz") as tf:
        tf.add(tmp_path / "s.cif", arcname="s.cif")
        tf.add(tmp_path / "b.cif", arcname="b.cif")
    for src in ("s.cif", "b.cif", "a.zip", "a.tar.gz"):
        for origin, cid, text, why in iter_cifs([tmp_path / src], max_bytes=2000):
            assert (text is None) == (cid == "b"), origin
            assert why is None if cid == "s" else "larger than" in why and origin in why
    out = tmp_path / "ranked.csv"
    assert main(["screen", MODEL, str(tmp_path / "a.zip"), "--out", str(out), "--max-cif-mb", "0.002"]) == 0
    assert pd.read_csv(out)["id"].tolist() == ["s"]
    assert "larger than" in (tmp_path / "ranked_skipped.csv").read_text()
