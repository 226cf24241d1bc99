"""aecgcnn.studies: profile settings and the README's description of them."""
from pathlib import Path

import pytest

from aecgcnn.studies import PROFILES, profile_settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_overrides_apply_and_none_is_ignored():
    s = profile_settings("mof", "cpu", epochs=3, seeds=None)
    assert s["epochs"] == 3 and s["seeds"] == PROFILES["mof"]["cpu"]["seeds"]
    assert s["batch_size"] == 64 and profile_settings("mp_curve", "quick", batch_size=16)["batch_size"] == 16
    with pytest.raises(ValueError, match="unknown profile"):
        profile_settings("mof", "huge")


@pytest.mark.parametrize("profile", ["quick", "cpu"])
def test_readme_states_the_profile_scales(profile):
    mof, mp = PROFILES["mof"][profile], PROFILES["mp_curve"][profile]
    row = next(line for line in README.splitlines() if line.startswith(f"| `{profile}` |"))
    assert f"{mof['train_size']} / {mof['val_size']} / {mof['test_size']}, {mof['epochs']} epochs" in row
    assert ", ".join(f"{n:,}" for n in mp["sizes"]) in row and f"{mp['epochs']} epochs" in row
    assert f"{mp['val_size']:,} / {mp['test_size']:,}" in row
    assert ("batch_size" not in mof) or f"batch {mof['batch_size']}" in row
