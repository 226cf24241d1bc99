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


def test_finished_only_is_stamped_only_when_asked_and_commands_keep_zero():
    """A finished-only look is recorded in the settings its tables stamp (the README then marks them partial); a
    complete run's settings equal the profile's. The reproduce command drops False but keeps 0 (weight decay 0)."""
    from aecgcnn.studies import notebook_command
    assert profile_settings("mp_curve", "cpu", finished_only=True)["finished_only"] is True
    assert "finished_only" not in profile_settings("mp_curve", "cpu", finished_only=False)
    assert notebook_command("table3", "cpu", finished_only=False, weight_decay=0, lr=None) == \
        "aecgcnn reproduce table3 --profile cpu -p weight_decay 0"
    assert notebook_command("table3", "cpu", finished_only=True).endswith("-p finished_only true")


@pytest.mark.parametrize("profile", ["quick", "cpu"])
def test_readme_states_the_profile_scales(profile):
    s, mp = profile_settings("mof", profile), profile_settings("mp_curve", profile)
    row = next(line for line in README.splitlines() if line.startswith(f"| `{profile}` |"))
    size = lambda v: "all" if v is None else f"{v:,}"  # noqa: E731
    epochs = lambda n: f"{n} epoch" + ("s" if n != 1 else "")  # noqa: E731
    assert f"{size(s['train_size'])} / {size(s['val_size'])} / {size(s['test_size'])}, {epochs(s['epochs'])}" in row
    seeds = ", ".join(map(str, s["seeds"]))
    assert (f"seeds {seeds}" if len(s["seeds"]) > 1 else f"seed {seeds}") in row
    assert s["presets"] is None or "rungs " + ", ".join(f"`{p}`" for p in s["presets"]) in row
    assert ", ".join(f"{n:,}" for n in mp["sizes"]) in row and epochs(mp["epochs"]) in row
    assert all(f"{n:,} (seed {mp['seeds'][0]})" in row for n in mp["one_seed_sizes"])
    assert f"{mp['val_size']:,} / {mp['test_size']:,}" in row
    assert s["batch_size"] == 64 or f"batch {s['batch_size']}" in row
    if profile == "cpu":
        from aecgcnn.studies import split_train_size
        assert f"70-30 trains on {split_train_size('70-30', s['train_size']):,}" in row


def test_a_reduced_table2_keeps_the_papers_ratio_of_training_data():
    """At a profile's cap, 70-30 trains on (0.7 x 0.9) / 0.8 of the 80-10-10 crystals (the splits' training parts:
    70-30 carves a tenth of its 70 % for validation); the full splits (None) are left as they are."""
    from aecgcnn.data.splits import make_split
    from aecgcnn.studies import ladder_experiment, split_train_size
    assert split_train_size("80-10-10", 2000) == 2000 and split_train_size("70-30", 2000) == round(2000 * 0.63 / 0.8)
    assert split_train_size("70-30", None) is None and split_train_size("file", 300) == 300

    class E:  # an entry: only its id matters to the random splits
        def __init__(self, i):
            self.id, self.meta = f"m{i}", {}
    entries = [E(i) for i in range(10000)]
    full = {k: len(make_split(k, entries)["train"]) for k in ("80-10-10", "70-30")}
    assert abs(full["70-30"] / full["80-10-10"] - split_train_size("70-30", 10000) / 10000) < 1e-3
    s = profile_settings("mof", "cpu")
    assert ladder_experiment("x", "ae-cgcnn", s, "runs", "70-30").train_size == split_train_size("70-30", s["train_size"])
    assert ladder_experiment("x", "ae-cgcnn", s, "runs", "80-10-10").train_size == s["train_size"]
