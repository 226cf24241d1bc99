"""The package installed the way a user installs it: the wheel built from this checkout, into a fresh venv, used
from an empty folder. Nothing may be written beside the installed package (slow: about two minutes)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_predicts_and_trains_from_an_empty_folder_and_writes_nothing_into_site_packages(tmp_path):
    def run(*cmd, cwd=tmp_path, env=None):
        done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, env=env, timeout=900)
        assert done.returncode == 0, f"{cmd}: {done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        return done.stdout
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", ROOT)
    wheel, = (tmp_path / "dist").glob("aecgcnn-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    py = venv / "bin" / "python"
    run(py, "-m", "pip", "install", "-q", "torch==2.13.0", wheel)
    site = Path(run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    before = {p for p in site.rglob("*") if "__pycache__" not in p.parts}
    work = tmp_path / "empty"
    work.mkdir()
    (work / "x.cif").write_text(_good_cif())
    env = {k: v for k, v in os.environ.items() if k not in ("AECGCNN_DATA", "PYTHONPATH")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), AECGCNN_KERNELS="eager")
    aecgcnn = venv / "bin" / "aecgcnn"
    run(aecgcnn, "predict", "--pretrained", "core2019-co2-0.15bar", "x.cif", "--out", "p.csv", cwd=work, env=env)
    assert (work / "p.csv").read_text().count("\n") == 2
    run(aecgcnn, "train", "--dataset", "core2019-co2-0.15bar", "--preset", "cgcnn", "--epochs", "1",
        "--train-size", "32", "--val-size", "16", "--test-size", "16", "--batch-size", "16", "--out", "run",
        cwd=work, env=env)
    assert (work / "run" / "metrics.json").exists()
    after = {p for p in site.rglob("*") if "__pycache__" not in p.parts}
    assert not (after - before), sorted(map(str, after - before))[:10]
    assert (tmp_path / "cache" / "aecgcnn" / "splits").is_dir()  # the split record went to the user's cache


def _good_cif() -> str:
    sys.path.insert(0, str(ROOT / "tests"))
    from bad_inputs import p1_cif
    return p1_cif()
