"""The fast conv path (aecgcnn.models.fused) against the plain op-by-op transcription of the same layer:
forward outputs, neighbour weights, batch-norm running statistics and every parameter gradient."""
import copy
from dataclasses import fields

import numpy as np
import pytest
import torch
from conftest import one_atom_fcc, rocksalt, sparse_cubic, triclinic

from aecgcnn.data.batch import collate
from aecgcnn.graph import build_graph
from aecgcnn.models import LADDER, fused, model_from_preset

CASES = [(p, {}) for p in LADDER] + [
    ("ae-cgcnn", {"attention_norm": "per-head"}), ("ae-cgcnn", {"activation": "softplus"}),
    ("cgcnn", {"activation": "softplus", "atom_features": "cgcnn", "readout_preact": True}),
    ("atten2", {"residual": False, "init": "fused"})]


def batch():
    """Four crystals (one with padded slots) in float64, so that the two paths agree to rounding of 1e-12."""
    structs = [triclinic(), rocksalt(), one_atom_fcc(), sparse_cubic()]
    rng = np.random.default_rng(0)
    graphs = [build_graph(s, charges=rng.normal(size=len(s))) for s in structs]
    b = collate([(g, float(i), str(i)) for i, g in enumerate(graphs)])
    for f in fields(b):
        value = getattr(b, f.name)
        if torch.is_tensor(value) and value.is_floating_point():
            setattr(b, f.name, value.double())
    return b


def set_fast(model, fast):
    for conv in model.convs:
        conv.fast = fast
    return model


#: every (mode, activation) of the chunk kernels, run in chunks of 3 atoms: full chunks take the compiled kernels
#: (float64 here), the ragged last one the eager kernels
CHUNKED = [("cgcnn", {}), ("ae-cgcnn", {}), ("ae-cgcnn", {"attention_norm": "per-head"}),
           ("ae-cgcnn", {"activation": "softplus"}), ("cgcnn", {"activation": "softplus"})]
CHUNK_CASES = [(p, o, None) for p, o in CASES] + [(p, o, 3) for p, o in CHUNKED]


@pytest.mark.parametrize("preset,options,chunk", CHUNK_CASES, ids=[
    f"{p}-{'-'.join(map(str, o.values()))}-{'chunks-of-3-atoms' if c else 'one-chunk'}" for p, o, c in CHUNK_CASES])
def test_fast_path_equals_plain_path(preset, options, chunk, monkeypatch):
    if chunk is not None:  # several chunks and a ragged last one (the batch has 14 atoms), compiled at once
        monkeypatch.setattr(fused, "chunk_rows", lambda *args: chunk)
        monkeypatch.setattr(fused, "KERNELS", "compiled")  # the test suite runs eager otherwise (conftest.py)
        monkeypatch.setattr(fused, "COMPILE_AFTER", 0)
    torch.manual_seed(0)
    b = batch()
    fast = model_from_preset(preset, node_dim=16, n_conv=3, fc_hidden=16, **options).double().train()
    with torch.no_grad():  # non-trivial batch-norm affine parameters and statistics
        for name, p in fast.named_parameters():
            if "bn_" in name:
                p.add_(0.3 * torch.randn_like(p))
    plain = set_fast(copy.deepcopy(fast), False)
    outs = {}
    for tag, model in (("fast", fast), ("plain", plain)):
        out, attn = model(b, return_attention=True)
        (out * torch.arange(1.0, 5.0, dtype=out.dtype)).sum().backward()
        outs[tag] = (out.detach(), attn)
    torch.testing.assert_close(outs["fast"][0], outs["plain"][0], rtol=1e-9, atol=1e-10)
    for lf, lp in zip(outs["fast"][1]["neighbor"], outs["plain"][1]["neighbor"]):
        torch.testing.assert_close(lf, lp, rtol=1e-9, atol=1e-10)
    for (name, pf), pp in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(pf.grad, pp.grad, rtol=1e-7, atol=1e-9, msg=lambda m: f"{name}: {m}")
    for (name, bf), bp in zip(fast.named_buffers(), plain.buffers()):
        torch.testing.assert_close(bf, bp, rtol=1e-9, atol=1e-10, msg=name)
    fast.eval(), plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(fast(b), plain(b), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("kernels", ["eager", "compiled"])
@pytest.mark.parametrize("preset,options", [("ae-cgcnn", {}), ("ae-cgcnn", {"attention_norm": "per-head"}),
                                            ("cgcnn", {})])
def test_bf16_edge_gemms_stay_close_to_float32(preset, options, kernels, monkeypatch):
    """``edge_precision("bf16")`` (per-edge GEMMs in bfloat16, float32 accumulation): outputs within 2 % and
    every parameter gradient within 5 % (norm of the difference; gradients under 5 % of the largest within 0.3 % of
    that) of the float32 fast path, in chunks of
    3 atoms, eager and compiled; and it really runs in bf16 (the results are not bit-equal)."""
    monkeypatch.setattr(fused, "chunk_rows", lambda *args: 3)
    monkeypatch.setattr(fused, "KERNELS", kernels)
    monkeypatch.setattr(fused, "COMPILE_AFTER", 0)
    torch.manual_seed(0)
    b = batch()
    for f in fields(b):
        value = getattr(b, f.name)
        if torch.is_tensor(value) and value.dtype == torch.float64:
            setattr(b, f.name, value.float())
    ref = model_from_preset(preset, node_dim=16, n_conv=3, fc_hidden=16, **options).train()
    low = copy.deepcopy(ref)
    outs = {}
    for tag, model, precision in (("fp32", ref, "fp32"), ("bf16", low, "bf16")):
        with fused.edge_precision(precision):
            out = model(b)
            (out * torch.arange(1.0, 5.0)).sum().backward()
        outs[tag] = out.detach()
    assert not torch.equal(outs["fp32"], outs["bf16"])
    torch.testing.assert_close(outs["bf16"], outs["fp32"], rtol=2e-2, atol=2e-2 * float(outs["fp32"].abs().max()))
    scale = max(float(p.grad.norm()) for p in ref.parameters())
    for (name, p32), p16 in zip(ref.named_parameters(), low.parameters()):
        diff, norm = float((p16.grad - p32.grad).norm()), float(p32.grad.norm())
        # gradients that vanish in exact arithmetic (biases before a batch norm or a softmax) are rounding only
        assert diff < 5e-2 * norm or (norm < 0.05 * scale and diff < 3e-3 * scale), f"{name}: {diff:.3g} of {norm:.3g}"
    assert fused.EDGE_DTYPE is None  # restored after the context


def test_compiled_layers_leave_the_chunked_functions_to_their_own_kernels():
    """``compile_layers`` (an outer torch.compile of each conv layer) excludes the chunked autograd functions from
    its graph (they are wrapped in torch.compiler.disable then, not at import) and gives the eager numbers."""
    torch.manual_seed(0)
    b = batch()
    eager = model_from_preset("ae-cgcnn", node_dim=16, n_conv=2, fc_hidden=16).double().eval()
    compiled = copy.deepcopy(eager).compile_layers()
    assert all(getattr(f, "_aecgcnn_excluded", False)
               for f in (fused.edge_attention, fused.edge_update, fused.edge_embedding))
    with torch.no_grad():
        assert torch.allclose(compiled(b), eager(b), rtol=1e-9, atol=1e-12)


def test_a_kernel_is_compiled_after_a_fixed_number_of_eager_calls(monkeypatch):
    """``fused._run`` switches a kernel (per shape, dtype and mode) to its compiled form after COMPILE_AFTER eager
    full-chunk calls: a count, so the switch is at the same step in every run; ragged chunks always run eagerly.
    Prediction jobs choose by size (compile_for_job)."""
    compiled = []
    monkeypatch.setattr(fused, "_kernel", lambda fn, z, key: (compiled.append((tuple(z.shape), key)), fn)[1])
    monkeypatch.setattr(fused, "_CALLS", {})
    monkeypatch.setattr(fused, "KERNELS", "compiled")
    monkeypatch.setattr(fused, "COMPILE_AFTER", 3)
    z, node, mask = torch.randn(4, 12, 12), torch.randn(4, 12), torch.ones(4, 12, dtype=torch.bool)
    key = (2, "joint", "relu")
    for _ in range(3):
        fused._run(fused.slot_forward, key, True, z.clone(), node, mask)
        fused._run(fused.slot_forward, key, False, z.clone(), node, mask)  # ragged: never counts, never compiles
    assert compiled == []
    fused._run(fused.slot_forward, key, True, z.clone(), node, mask)
    assert compiled == [((4, 12, 12), key)]
    other = torch.randn(5, 12, 12)  # another shape has its own count
    fused._run(fused.slot_forward, key, True, other, torch.randn(5, 12), torch.ones(5, 12, dtype=torch.bool))
    assert len(compiled) == 1
    monkeypatch.delenv("AECGCNN_COMPILE_AFTER", raising=False)
    with fused.compile_for_job(fused.PREDICT_COMPILE_FROM - 1):
        assert fused.COMPILE_AFTER >= 2 ** 62 and fused.kernel_state() == "eager"
    assert fused.COMPILE_AFTER == 3  # restored
    with fused.compile_for_job(None):  # a streamed screen of unknown size
        assert fused.COMPILE_AFTER == 0 and fused.kernel_state() == "compiled"
    monkeypatch.setenv("AECGCNN_COMPILE_AFTER", "3")  # an explicit setting wins
    with fused.compile_for_job(10):
        assert fused.COMPILE_AFTER == 3
