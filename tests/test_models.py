"""Model ladder properties, for every preset (issue: gradients, padding, invariances, overfit, save/load)."""
import copy

import numpy as np
import pytest
import torch
from conftest import one_atom_fcc, rocksalt, sparse_cubic, triclinic

from aecgcnn.checkpoint import load_checkpoint, save_checkpoint
from aecgcnn.data.batch import GraphDataset, collate
from aecgcnn.graph import GraphSettings, build_graph
from aecgcnn.models import LADDER, PRESETS, model_from_preset
from aecgcnn.train import TrainConfig, evaluate, train_model

ALL = LADDER + ["geocgnn"]


def small(preset, **kw):
    """A small model of the preset (width 16) so that the tests run quickly."""
    if preset == "geocgnn":
        return model_from_preset("geocgnn", hidden=16, n_blocks=2, **kw)
    return model_from_preset(preset, node_dim=16, n_conv=2, fc_hidden=16, **kw)


def charged(s, seed=0):
    q = np.random.default_rng(seed).normal(size=len(s))
    return q - q.mean()


def graphs_of(structs):
    return [build_graph(s, charges=charged(s)) for s in structs]


def batch_of(graphs):
    return collate([(g, 0.0, str(i)) for i, g in enumerate(graphs)])


def predict(model, graphs):
    model.eval()
    with torch.no_grad():
        return model(batch_of(graphs)).numpy()


@pytest.fixture(params=ALL)
def preset(request):
    torch.manual_seed(0)
    return request.param


def test_gradients_reach_every_parameter(preset):
    model = small(preset)
    model.train()
    out = model(batch_of(graphs_of([triclinic(), rocksalt(), one_atom_fcc()])))
    (out ** 2).sum().backward()
    # the bias of a score that only feeds a softmax (head mixing, Eq. 8 pooling) cancels out: its gradient is 0
    # up to rounding, so it is checked to be ~0 rather than to be non-zero
    shift_free = {n for n, _ in model.named_parameters() if n.endswith(("head_score.bias", "pool_score.bias"))}
    missing = [n for n, p in model.named_parameters() if n not in shift_free and (
        p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0)]
    assert not missing, missing
    for n, p in model.named_parameters():
        if n in shift_free:
            assert p.grad is not None and float(p.grad.abs().max()) < 1e-5, n


def test_padded_slots_change_nothing(preset):
    model = small(preset)
    graphs = graphs_of([sparse_cubic(), triclinic()])
    ref = predict(model, graphs)
    garbled = copy.deepcopy(graphs[0])
    pad = ~garbled.mask
    assert pad.any()
    garbled.distances[pad] = 1.234
    garbled.vectors[pad] = 0.9
    garbled.offsets[pad] = 1
    np.testing.assert_allclose(predict(model, [garbled, graphs[1]]), ref, rtol=1e-5, atol=1e-6)
    model.train()  # also in training mode: batch-norm statistics ignore padded slots
    torch.manual_seed(1)
    a = model(batch_of(graphs)).detach()
    b = model(batch_of([garbled, graphs[1]])).detach()
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_invariant_to_atom_order_and_translation(preset, rng):
    model = small(preset)
    s = triclinic()
    q = charged(s)
    ref = predict(model, [build_graph(s, charges=q)])
    perm = rng.permutation(len(s))
    permuted = type(s).from_sites([s[i] for i in perm])
    np.testing.assert_allclose(predict(model, [build_graph(permuted, charges=q[perm])]), ref, rtol=1e-4, atol=1e-5)
    moved = s.copy()
    moved.translate_sites(list(range(len(s))), [0.31, 0.77, -0.4], frac_coords=True)
    np.testing.assert_allclose(predict(model, [build_graph(moved, charges=q)]), ref, rtol=1e-4, atol=1e-5)


def variants(s, q):
    """The same crystal written four more ways: atoms permuted, translated, a 2x1x1 supercell, another
    setting of the cell (a unimodular change of basis), each rotated in space; with aligned charges."""
    from pymatgen.core import Lattice, Structure
    from pymatgen.core.operations import SymmOp
    perm = np.random.default_rng(1).permutation(len(s))
    out = {"permuted": (Structure.from_sites([s[i] for i in perm]), q[perm])}
    moved = s.copy()
    moved.translate_sites(list(range(len(s))), [0.13, -0.4, 0.71])
    out["translated"] = (moved, q)
    sc = s.copy()
    sc.make_supercell([2, 1, 1])
    out["supercell"] = (sc, np.repeat(q, 2))  # pymatgen puts each site's image right after it
    m = np.array([[1, 1, 0], [0, 1, 0], [0, 1, 1]])
    lat = Lattice(m @ s.lattice.matrix)
    out["setting"] = (Structure(lat, s.species, s.cart_coords, coords_are_cartesian=True, to_unit_cell=True), q)
    rot = s.copy()
    rot.apply_operation(SymmOp.from_axis_angle_and_translation([0.3, -1.0, 0.5], 37.0))
    out["rotated"] = (rot, q)
    return out


@pytest.mark.parametrize("preset", LADDER)
def test_same_crystal_written_differently_gives_the_same_prediction(preset):
    """Every AE-CGCNN rung, with its default features (plane waves on the reduced primitive cell included),
    predicts the same for a crystal and its permuted, translated, supercell, re-set and rotated copies."""
    torch.manual_seed(0)
    model = small(preset)
    s = triclinic()
    q = charged(s)
    ref = predict(model, [build_graph(s, charges=q)])
    for name, (v, qv) in variants(s, q).items():
        np.testing.assert_allclose(predict(model, [build_graph(v, charges=qv)]), ref, rtol=1e-4, atol=1e-5,
                                   err_msg=name)


def test_plane_waves_on_the_given_cell_depend_on_the_cell():
    """pw_cell='given' (GeoCGNN's literal form) keeps the old behaviour: invariant to permutation, translation
    and rotation, but a supercell or another setting of the cell is another input (its plane-wave features of
    the same atom differ), where pw_cell='primitive' gives that atom the same features."""
    from aecgcnn.models.common import edge_inputs
    torch.manual_seed(0)
    model = small("ae-cgcnn", pw_cell="given")
    s = triclinic()
    q = charged(s)
    ref = predict(model, [build_graph(s, charges=q)])

    def atom0_waves(structure, cell):  # sorted plane-wave features of atom 0 (the same atom in every variant)
        b = batch_of([build_graph(structure)])
        return np.sort(edge_inputs(b, False, "plane", pw_cell=cell)[0].numpy().ravel())

    for name, (v, qv) in variants(s, q).items():
        if name in ("supercell", "setting"):
            assert np.abs(atom0_waves(v, "given") - atom0_waves(s, "given")).max() > 1e-3, name
            np.testing.assert_allclose(atom0_waves(v, "primitive"), atom0_waves(s, "primitive"), atol=1e-5)
        elif name != "permuted":  # the permuted copy moves atom 0; its prediction is checked below
            np.testing.assert_allclose(atom0_waves(v, "given"), atom0_waves(s, "given"), atol=1e-5, err_msg=name)
        if name not in ("supercell", "setting"):
            np.testing.assert_allclose(predict(model, [build_graph(v, charges=qv)]), ref, rtol=1e-4, atol=1e-5,
                                       err_msg=name)


def test_geocgnn_pooling_is_extensive():
    """GeoCGNN pools with a sum: its crystal vector of a 2x1x1 supercell is twice the cell's (no plane waves)."""
    torch.manual_seed(0)
    model = small("geocgnn", use_plane_waves=False).eval()
    s = triclinic()
    sc = s.copy()
    sc.make_supercell([2, 1, 1])
    seen = {}
    model.readout.register_forward_hook(lambda mod, inp, out: seen.setdefault(len(seen), inp[0].detach()))
    predict(model, [build_graph(s)])
    predict(model, [build_graph(sc)])
    torch.testing.assert_close(seen[1], 2 * seen[0], rtol=1e-4, atol=1e-5)


def test_geocgnn_compiles_for_training_by_default_and_compiled_equals_eager(monkeypatch):
    """Training compiles GeoCGNN's blocks on CPU unless the kernels are switched to eager (the test suite's
    setting); the AE-CGCNN rungs only when asked. The compiled blocks give the eager outputs and gradients in
    float64 (in float32 a training batch of a few crystals amplifies rounding through its batch norms)."""
    from dataclasses import fields

    import aecgcnn.models.geocgnn as geo
    from aecgcnn.models import fused
    from aecgcnn.train import compile_for_training
    calls = []
    for kernels, requested, preset in [("eager", False, "geocgnn"), ("compiled", False, "geocgnn"),
                                       ("compiled", False, "ae-cgcnn"), ("eager", True, "ae-cgcnn")]:
        monkeypatch.setattr(fused, "KERNELS", kernels)
        model = small(preset)
        monkeypatch.setattr(model, "compile_layers", lambda: calls.append(True))
        before = len(calls)
        compile_for_training(model, "cpu", requested)
        assert (len(calls) > before) == (requested or (kernels == "compiled" and preset == "geocgnn"))
    for name in ("one_hot_z", "geo_radial_basis", "plane_wave_basis"):  # the model's inputs in float64
        monkeypatch.setattr(geo, name, lambda *a, f=getattr(geo, name), **k: f(*a, **k).double())
    torch.manual_seed(0)
    b = collate([(g, float(i), str(i)) for i, g in enumerate(graphs_of([triclinic(), rocksalt(), sparse_cubic()]))])
    for f in fields(b):
        if torch.is_tensor(getattr(b, f.name)) and getattr(b, f.name).is_floating_point():
            setattr(b, f.name, getattr(b, f.name).double())
    eager = model_from_preset("geocgnn", hidden=8, n_blocks=1).double().train()  # one block: one compile
    compiled = copy.deepcopy(eager).compile_layers()
    outs = {}
    for tag, model in (("eager", eager), ("compiled", compiled)):
        out = model(b)
        (out * torch.arange(1.0, 4.0, dtype=out.dtype)).sum().backward()
        outs[tag] = out.detach()
    torch.testing.assert_close(outs["compiled"], outs["eager"], rtol=1e-8, atol=1e-10)
    for (name, pe), pc in zip(eager.named_parameters(), compiled.parameters()):
        torch.testing.assert_close(pc.grad, pe.grad, rtol=1e-6, atol=1e-9, msg=lambda m: f"{name}: {m}")


def test_tiny_set_can_be_overfitted(preset):
    torch.manual_seed(0)
    structs = [triclinic(), rocksalt(), one_atom_fcc(), sparse_cubic()]
    # 4 distinct crystals, each repeated 8 times: batch-norm statistics over 32 crystals per batch are close
    # to the eval-mode running statistics (with 4 per batch the unbiased running variance is 4/3 of it)
    gs = graphs_of(structs) * 8
    ds = GraphDataset(gs, [0.5, -1.0, 2.0, 1.2] * 8, [f"{c}{k}" for k in range(8) for c in "abcd"])
    model = small(preset)
    before = evaluate(model, ds)["mae"]
    train_model(model, ds, ds, TrainConfig(epochs=150, lr=5e-3, weight_decay=0.0, batch_size=32, progress=False))
    after = evaluate(model, ds)["mae"]
    assert after < 0.15 * max(before, 1.0), (before, after)


def test_save_load_gives_identical_predictions(preset, tmp_path):
    model = small(preset)
    gs = graphs_of([triclinic(), rocksalt()])
    model.normalizer.fit(torch.tensor([1.0, 3.0]))
    path = save_checkpoint(tmp_path / "m.pt", model, GraphSettings(), "toy", "y", "eV/atom")
    loaded, meta = load_checkpoint(path)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded.predict(batch_of(gs)), model.predict(batch_of(gs)), rtol=0, atol=0)
    assert meta["units"] == "eV/atom" and meta["graph_settings"] == GraphSettings()


def test_attention_outputs(preset):
    model = small(preset)
    gs = graphs_of([triclinic(), rocksalt(), sparse_cubic()])
    b = batch_of(gs)
    model.eval()
    with torch.no_grad():
        out, attn = model(b, return_attention=True)
        torch.testing.assert_close(out, model(b))  # asking for attention changes no prediction
    if preset == "geocgnn":  # GeoCGNN has no attention to report
        assert attn == {}
        return
    sums = torch.zeros(3).index_add_(0, b.crystal, attn["pooling"])
    torch.testing.assert_close(sums, torch.ones(3))
    cfg = model.config
    for layer_heads, layer_nbr in zip(attn["heads"], attn["neighbor"]):
        assert layer_heads.shape == (b.atomic_numbers.shape[0], cfg.n_heads)
        torch.testing.assert_close(layer_heads.sum(1), torch.ones(len(layer_heads)))
        assert (layer_nbr[~b.mask] == 0).all()  # padded slots get no attention
        if cfg.attention == "softmax":  # Eq. 6/7: weights over (slots, heads) sum to 1 per channel
            torch.testing.assert_close(layer_nbr.sum((1, 2)), torch.ones(len(layer_nbr)), rtol=1e-5, atol=1e-5)


def test_unknown_config_key_is_rejected():
    with pytest.raises(ValueError, match="unknown"):
        model_from_preset("cgcnn", n_layers=3)
    with pytest.raises(ValueError, match="geo_features"):
        model_from_preset("cgcnn", geo_features="everything")


def test_history_is_logged_epoch_by_epoch(tmp_path):
    """TrainConfig.log_path: the CSV holds exactly the rows of the returned history, one per epoch."""
    import pandas as pd
    gs = graphs_of([triclinic(), rocksalt(), one_atom_fcc(), sparse_cubic()])
    ds = GraphDataset(gs, [0.5, -1.0, 2.0, 1.2], list("abcd"))
    log = tmp_path / "history.csv"
    result = train_model(small("cgcnn"), ds, ds, TrainConfig(epochs=3, batch_size=4, progress=False, log_path=str(log)))
    logged = pd.read_csv(log)
    assert logged["epoch"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(logged["val_mae"], [h["val_mae"] for h in result.history])


OPTIONS = [{"atom_features": "cgcnn"}, {"activation": "softplus"}, {"init": "per-part"},
           {"attention_norm": "per-head"}, {"residual": False}, {"pw_cell": "given"},
           {"readout_preact": False, "activation": "softplus"}]  # with ReLU, preact is a no-op on v >= 0


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_option_is_saved_and_reloads_identically(option, tmp_path):
    """Each model option changes the model, is stored in the checkpoint and reloads to the same predictions."""
    gs = graphs_of([triclinic(), rocksalt()])
    torch.manual_seed(0)
    geo = {} if "pw_cell" in option else {"geo_features": "radial"}
    model = small("ae-cgcnn", **geo, **option).eval()
    torch.manual_seed(0)
    base = {"activation": "softplus"} if "readout_preact" in option else {}
    plain = small("ae-cgcnn", **geo, **base).eval()
    with torch.no_grad():
        assert not torch.allclose(model(batch_of(gs)), plain(batch_of(gs)))
    path = save_checkpoint(tmp_path / "m.pt", model, GraphSettings(), "toy", "y", "eV/atom")
    loaded, meta = load_checkpoint(path)
    for key, value in option.items():
        assert getattr(loaded.config, key) == value and meta["config"][key] == value
    with torch.no_grad():
        torch.testing.assert_close(loaded(batch_of(gs)), model(batch_of(gs)), rtol=0, atol=0)


def test_checkpoint_without_new_keys_loads_with_old_behaviour(tmp_path):
    """A checkpoint written before the options existed has none of their keys: it reloads as it was trained."""
    from aecgcnn.models.aecgcnn import LEGACY
    model = small("cgcnn").eval()
    path = save_checkpoint(tmp_path / "m.pt", model, GraphSettings(), "toy", "y", "eV/atom")
    ckpt = torch.load(path, weights_only=False)
    ckpt["config"] = {k: v for k, v in ckpt["config"].items() if k not in LEGACY}
    torch.save(ckpt, path)
    loaded, _ = load_checkpoint(path)
    for key, value in LEGACY.items():
        assert getattr(loaded.config, key) == value
    gs = graphs_of([triclinic(), rocksalt()])
    with torch.no_grad():
        torch.testing.assert_close(loaded(batch_of(gs)), model(batch_of(gs)), rtol=0, atol=0)


def test_fused_init_has_the_reference_distribution():
    """init='fused': W_i, W_j, W_e (and b) drawn as one Linear(2F + E) would be, bound 1/sqrt(2F + E)."""
    torch.manual_seed(0)
    conv = model_from_preset("cgcnn").convs[0]  # the default
    bound = 1 / (2 * 64 + 41) ** 0.5
    for w in (conv.w_self.weight, conv.w_nbr.weight, conv.w_edge.weight, conv.w_edge.bias):
        assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.9 * bound
    conv = model_from_preset("cgcnn", init="per-part").convs[0]
    assert float(conv.w_self.weight.abs().max()) > bound  # per-part: 1/sqrt(64) for the node parts


def test_protocols_set_model_and_optimiser():
    from aecgcnn.experiment import Experiment, model_overrides, train_settings
    ref = Experiment(dataset="toy", preset="cgcnn", protocol="reference-cgcnn", weight_decay=1e-4)
    assert train_settings(ref) == {"epochs": 50, "lr": 1e-3, "weight_decay": 1e-4, "batch_size": 256}
    assert model_overrides(ref)["atom_features"] == "cgcnn" and model_overrides(ref)["n_conv"] == 3
    paper = Experiment(dataset="toy", preset="cgcnn", overrides={"activation": "softplus"})
    assert train_settings(paper) == {"epochs": 50, "lr": 1e-3, "weight_decay": 5e-4, "batch_size": 64}
    assert model_overrides(paper)["activation"] == "softplus" and model_overrides(paper)["atom_features"] == "onehot"
    geo = Experiment(dataset="toy", preset="geocgnn", protocol="reference-cgcnn")
    assert model_overrides(geo) == {"cutoff": 8.0}  # GeoCGNN takes the graph radius only
    # GeoCGNN keeps its published code's weight decay (0) under the paper protocol; an explicit value overrides it
    assert train_settings(Experiment(dataset="toy", preset="geocgnn")) == {"epochs": 50, "lr": 1e-3,
                                                                          "weight_decay": 0.0, "batch_size": 64}
    assert train_settings(Experiment(dataset="toy", preset="geocgnn", weight_decay=5e-4))["weight_decay"] == 5e-4
    with pytest.raises(ValueError, match="protocol"):
        train_settings(Experiment(dataset="toy", protocol="mine"))
