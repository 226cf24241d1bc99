"""Run-folder locks: a live owner blocks a second process, a stale lock is taken over, a failing run releases."""
import subprocess
import sys

import pytest

from aecgcnn import InputError
from aecgcnn.runlock import run_dir_lock


def test_a_live_owner_blocks_a_second_process(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / ".lock").write_text(str(owner.pid))
        with pytest.raises(InputError, match=f"pid {owner.pid}"):
            with run_dir_lock(tmp_path):
                pass
        assert (tmp_path / ".lock").read_text() == str(owner.pid)  # the owner's lock is left alone
    finally:
        owner.kill()
        owner.wait()


def test_a_stale_lock_is_taken_over_and_released(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".lock").write_text(gone.stdout.strip())
    with run_dir_lock(tmp_path):
        assert (tmp_path / ".lock").exists()
    assert not (tmp_path / ".lock").exists()


def test_the_lock_is_released_when_the_run_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with run_dir_lock(tmp_path):
            raise RuntimeError("training diverged")
    assert not (tmp_path / ".lock").exists()
