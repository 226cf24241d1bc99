"""Provenance stamps: the command recorded with every result is one a person can paste into a shell."""
import shlex

from aecgcnn.provenance import command_line, stamp


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
