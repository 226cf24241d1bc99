"""Provenance stamps: the command recorded with every result is one a person can paste into a shell, and the
commit is marked ``+dirty`` only when code it ran differs from the commit."""
import shlex
import subprocess

import pytest

from aecgcnn.provenance import OUTPUT_PATHS, _read_commit, command_line, stamp


def test_the_recorded_command_can_be_pasted(monkeypatch):
    monkeypatch.delenv("AECGCNN_DATA", raising=False)
    assert command_line(["/root/.pyenv/versions/3.11.7/bin/aecgcnn", "reproduce", "attention", "-p", "seeds", "[0]"]) \
        == "aecgcnn reproduce attention -p seeds '[0]'"
    assert command_line(["/somewhere/site-packages/aecgcnn/__main__.py", "train"]) == "python -m aecgcnn train"
    assert command_line(["benchmarks/fidelity.py", "--only", "a b"]) == "python benchmarks/fidelity.py --only 'a b'"
    monkeypatch.setenv("AECGCNN_DATA", "/data dir")
    line = command_line(["/usr/bin/aecgcnn", "train", "--dataset", "core2019-co2-16bar"])
    assert line == "AECGCNN_DATA='/data dir' aecgcnn train --dataset core2019-co2-16bar"
    assert shlex.split(line)[1:] == ["aecgcnn", "train", "--dataset", "core2019-co2-16bar"]
    assert stamp()["command"] == command_line()


def test_the_commit_is_dirty_for_changed_code_not_for_changed_outputs_or_untracked_files(tmp_path):
    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True).stdout
    try:
        git("init", "-q")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    (tmp_path / "aecgcnn").mkdir()
    (tmp_path / "figures" / "cpu").mkdir(parents=True)
    (tmp_path / "results").mkdir()
    (tmp_path / "docs").mkdir()
    files = [tmp_path / "aecgcnn" / "model.py", tmp_path / "figures" / "cpu" / "table.md",
             tmp_path / "results" / "table.md", tmp_path / "README.md", tmp_path / "docs" / "results.md",
             tmp_path / "notes.md"]
    for f in files:
        f.write_text("v1\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = git("rev-parse", "--short", "HEAD").strip()
    assert _read_commit(tmp_path) == head
    assert OUTPUT_PATHS == ("figures", "results", "README.md", "docs", "CHANGELOG.md")
    for f in files[1:5]:  # the outputs a notebook or script rewrites, and the documentation
        f.write_text("v2\n")
    (tmp_path / "aecgcnn" / "scratch.py").write_text("untracked\n")
    assert _read_commit(tmp_path) == head
    files[5].write_text("v2\n")  # any other tracked file may change what runs
    assert _read_commit(tmp_path) == head + "+dirty"
    git("checkout", "--", "notes.md")
    files[0].write_text("v2\n")
    assert _read_commit(tmp_path) == head + "+dirty"
