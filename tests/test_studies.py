"""aecgcnn.workflow.studies: profile settings and the README's description of them."""
from pathlib import Path

import pytest

from aecgcnn.workflow.studies import PROFILES, profile_settings

README = (Path(__file__).resolve().parents[1] / "docs" / "notebooks.md").read_text()  # the profiles table


def test_overrides_apply_and_none_is_ignored():
    s = profile_settings("mof", "cpu", epochs=3, seeds=None)
    assert s["epochs"] == 3 and s["seeds"] == PROFILES["mof"]["cpu"]["seeds"]
    assert s["batch_size"] == 64 and profile_settings("mp_curve", "quick", batch_size=16)["batch_size"] == 16
    with pytest.raises(ValueError, match="unknown profile"):
        profile_settings("mof", "huge")


def test_chosen_sizes_replace_the_profiles_and_its_one_seed_sizes_without_a_variant():
    """Table III's ``sizes`` picks runs like ``seeds``: exactly the chosen sizes run, each with every seed, in the
    profile's own run folders (no variant), so a study of a few sizes reuses the profile's runs."""
    from aecgcnn.workflow.studies import run_variant
    s = profile_settings("mp_curve", "cpu", sizes=[1000, 300])
    assert s["sizes"] == [1000, 300] and s["one_seed_sizes"] == [] and "changed" not in s
    assert run_variant(s, data_dir="/data") == ""
    assert profile_settings("mp_curve", "cpu")["one_seed_sizes"] == PROFILES["mp_curve"]["cpu"]["one_seed_sizes"]
    with pytest.raises(ValueError, match="no training-set sizes"):
        profile_settings("mof", "cpu", sizes=[300])


def test_finished_only_is_stamped_only_when_asked_and_commands_keep_zero():
    """A finished-only look (or a run with skip_busy) is recorded in the settings its tables stamp (the README then
    marks them partial); a complete run's settings equal the profile's. The reproduce command drops False but keeps
    0 (weight decay 0)."""
    from aecgcnn.workflow.studies import notebook_command
    assert profile_settings("mp_curve", "cpu", finished_only=True)["finished_only"] is True
    assert "finished_only" not in profile_settings("mp_curve", "cpu", finished_only=False)
    assert notebook_command("table3", "cpu", finished_only=False, weight_decay=0, lr=None) == \
        "aecgcnn reproduce table3 --profile cpu -p weight_decay 0"
    assert notebook_command("table3", "cpu", finished_only=True).endswith("-p finished_only true")
    assert profile_settings("mof", "cpu", skip_busy=True)["skip_busy"] is True
    assert profile_settings("mof", "cpu", skip_busy=False) == profile_settings("mof", "cpu")
    assert notebook_command("table2", "cpu", skip_busy=True).endswith("-p skip_busy true")


def test_run_queue_passes_the_notebook_settings_to_the_study(monkeypatch):
    """``run_queue``: the settings' data-parallel processes and queue settings reach ``run_study`` (defaults when
    the settings leave them out); ``skip_busy`` stays stamped only when a run was left out."""
    from aecgcnn.workflow import studies
    from aecgcnn.workflow.studies import run_queue
    calls, got = [], {}
    monkeypatch.setattr(studies, "run_study", lambda *a, **k: calls.append((a, k)) or got)
    groups = {"g": (None, [0, 1])}
    got["g"] = {"seeds": [0]}  # seed 1 was left to another process
    left_out = profile_settings("mof", "cpu", skip_busy=True)
    run_queue(groups, left_out, ["e"])
    paper = profile_settings("mp_curve", "paper", finished_only=True)
    run_queue(groups, paper)
    assert calls == [((groups, ["e"], 1), {"finished_only": False, "skip_busy": True}),
                     ((groups, None, "auto"), {"finished_only": True, "skip_busy": False})]
    assert left_out["skip_busy"] is True and paper["finished_only"] is True
    got["g"] = {"seeds": [0, 1]}  # nothing left out: the table is complete
    complete = profile_settings("mof", "cpu", skip_busy=True)
    run_queue(groups, complete)
    assert complete == profile_settings("mof", "cpu")


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
        from aecgcnn.workflow.studies import split_train_size
        assert f"70-30 trains on {split_train_size('70-30', s['train_size']):,}" in row


def test_a_reduced_table2_keeps_the_papers_ratio_of_training_data():
    """At a profile's cap, 70-30 trains on (0.7 x 0.9) / 0.8 of the 80-10-10 crystals (the splits' training parts:
    70-30 carves a tenth of its 70 % for validation); the full splits (None) are left as they are."""
    from aecgcnn.data.splits import make_split
    from aecgcnn.workflow.studies import ladder_experiment, split_train_size
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


def test_notebook_parameters_that_change_a_run_get_their_own_folders(tmp_path, monkeypatch):
    """Changing a notebook parameter that changes what a run computes (a profile setting, model_options, the
    protocol, lr, weight decay, the demo sample instead of the data) trains new runs beside the profile's, never over
    them: the profile's own runs keep their folders (literal paths below), a variant's folder is named after its
    changes, and GeoCGNN's Table III runs ignore the AE-CGCNN model_options. Tables and figures of a variant go to
    figures/<profile>/<variant>."""
    from aecgcnn.workflow.reports import output_dirs
    from aecgcnn.workflow.studies import curve_experiment, ladder_experiment, run_variant
    monkeypatch.setenv("AECGCNN_DATA", str(tmp_path / "data"))  # a data directory: the profile's own runs
    cpu, mp = profile_settings("mof", "cpu", seeds=[0], finished_only=True), profile_settings("mp_curve", "cpu")
    assert "changed" not in cpu and run_variant(cpu) == "" and run_variant(cpu, {}, "paper", None, None) == ""
    assert ladder_experiment("core2019-co2-0.15bar", "ae-cgcnn", cpu, tmp_path).out_dir == \
        str(tmp_path / "core2019-co2-0.15bar" / "80-10-10" / "ae-cgcnn")
    assert curve_experiment("mp-megnet-2018", "ae-cgcnn", 300, mp, tmp_path, overrides={"geo_features": "radial"}
                            ).out_dir == str(tmp_path / "mp-megnet-2018" / "learning-curve" / "ae-cgcnn" / "n300")
    longer = profile_settings("mof", "cpu", epochs=50, batch_size=64)  # 64 is the profile's: not a change
    assert longer["changed"] == {"epochs": 50}
    name = run_variant(longer, {"node_dim": 128}, "reference-cgcnn", 3e-4, 0)
    assert name == "epochs=50,lr=0.0003,node_dim=128,protocol=reference-cgcnn,weight_decay=0"
    exp = ladder_experiment("core2019-co2-0.15bar", "cgcnn", longer, tmp_path, model_options={"node_dim": 128},
                            lr=3e-4)
    assert exp.out_dir == str(tmp_path / "core2019-co2-0.15bar" / "80-10-10" / "cgcnn" /
                              "epochs=50,lr=0.0003,node_dim=128")
    assert exp.epochs == 50 and exp.overrides == {"node_dim": 128} and exp.lr == 3e-4
    ae = curve_experiment("mp-megnet-2018", "ae-cgcnn", 300, mp, tmp_path, overrides={"geo_features": "radial"},
                          model_options={"attention_norm": "per-head"})
    assert ae.out_dir.endswith("ae-cgcnn/attention_norm=per-head/n300")
    assert ae.overrides == {"attention_norm": "per-head", "geo_features": "radial"}
    assert curve_experiment("mp-megnet-2018", "geocgnn", 300, mp, tmp_path).out_dir.endswith("geocgnn/n300")
    # unsafe characters and long names: readable prefix + a hash of the whole, so variants never share a folder
    odd = run_variant(cpu, {"hidden": [64, 64]})
    assert odd.startswith("hidden=_64_64_+") and odd != run_variant(cpu, {"hidden": "[64, 64]"})
    assert len(run_variant(cpu, {f"option_{k}": k for k in range(20)})) <= 90
    figs, runs = output_dirs("cpu", tmp_path, name)
    assert figs == tmp_path / name and figs.is_dir() and runs == tmp_path / "runs"
    monkeypatch.delenv("AECGCNN_DATA")  # no data directory: the demo sample, whose runs are kept apart
    assert run_variant(cpu) == "data=demo" and run_variant(longer, lr=3e-4) == "data=demo,epochs=50,lr=0.0003"
    assert ladder_experiment("core2019-co2-0.15bar", "ae-cgcnn", cpu, tmp_path).out_dir.endswith("ae-cgcnn/data=demo")


def test_captions_name_the_variant_of_changed_runs():
    """A side study's tables and figures say which variant they show; the profile's own say only the profile."""
    from aecgcnn.workflow.studies import profile_label, profile_settings, run_variant
    settings = profile_settings("mof", "cpu")
    assert profile_label("cpu", run_variant(settings, data_dir="/nowhere")) == "profile cpu"
    assert profile_label("cpu", run_variant(settings, {"node_dim": 128}, lr=3e-4, data_dir="/nowhere")) == \
        "profile cpu, lr=0.0003,node_dim=128"
