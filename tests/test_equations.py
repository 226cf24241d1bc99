"""Each equation of the paper against a literal, slow transcription on a tiny crystal: loops over atoms and
neighbour slots, z = v_i ⊕ v_j ⊕ e_ijk concatenated, one weight matrix per map — as the paper writes them,
with our documented readings (README model card) where it is silent. Batch norms are set to the identity
(eval mode, zero mean, unit variance, no shift) so that only the equations remain; the fast and the plain
model paths must both reproduce the transcription.

- Eq. 3 (CGCNN): v_i' = g(v_i + Σ_jk σ(z W_c + b_c) ⊙ g(z W_s + b_s))
- Eq. 4-5 (edge convolution): e_ijk' = e_ijk + g(W_e [e_ijk ⊕ v_i ⊕ v_j] + b_e)
- Eq. 6 (attention): σ(z W_c + b_c) → softmax over the neighbour slots of atom i, per channel
- Eq. 7 (M heads): softmax over (slots, heads); 1/M Σ_m head_m
- AttenIII: Σ_m β_m head_m, β = softmax_m(w · head_m + b)
- Eq. 8 (attention pooling): c = Σ_i softmax_i(w · v_i + b) v_i per crystal; readout MLP on g(c)
"""
import numpy as np
import pytest
import torch
from conftest import rocksalt, triclinic

from aecgcnn.data.batch import collate
from aecgcnn.graph import build_graph
from aecgcnn.models import model_from_preset


def identity_batchnorms(model):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.eps = 0.0
            m.running_mean.zero_()
            m.running_var.fill_(1.0)
            with torch.no_grad():
                m.weight.fill_(1.0)
                m.bias.zero_()
    return model.eval()


def g_of(cfg):
    return torch.relu if cfg.activation == "relu" else torch.nn.functional.softplus


def literal_layer(conv, cfg, v, e, nbr, mask):
    """One conv layer, atom by atom and slot by slot."""
    g = g_of(cfg)
    M, F = cfg.n_heads, cfg.node_dim
    W = torch.cat([conv.w_self.weight, conv.w_nbr.weight, conv.w_edge.weight], dim=1)  # acts on z = v_i ⊕ v_j ⊕ e
    b = conv.w_edge.bias
    v_new, e_new = torch.empty_like(v), e.clone()
    for i in range(v.shape[0]):
        slots = [k for k in range(nbr.shape[1]) if mask[i, k]]
        filt, core = [], []
        for k in slots:
            j = int(nbr[i, k])
            z = torch.cat([v[i], v[j], e[i, k]])
            p = (W @ z + b).view(M, 2, F)
            filt.append(p[:, 0])                                      # z W_c + b_c, per head   [M, F]
            core.append(g(p[:, 1]))                                   # g(z W_s + b_s)          [M, F]
        filt, core = torch.stack(filt), torch.stack(core)            # [slots, M, F]
        if cfg.attention == "gate":                                   # Eq. 3
            heads = (torch.sigmoid(filt) * core).sum(0)
        else:                                                         # Eq. 6 / 7: softmax over (slots, heads)
            ex = torch.exp(filt)
            heads = (ex / ex.sum(dim=(0, 1), keepdim=True) * core).sum(0)
        if M == 1:
            agg = heads[0]
        elif cfg.head_combine == "mean":                              # Eq. 7: 1/M Σ_m
            agg = heads.sum(0) / M
        else:                                                         # AttenIII
            score = torch.stack([conv.head_score.weight[0] @ heads[m] + conv.head_score.bias[0] for m in range(M)])
            beta = torch.exp(score) / torch.exp(score).sum()
            agg = sum(beta[m] * heads[m] for m in range(M))
        v_new[i] = g(v[i] + agg)                                      # v_i + Σ ... then g (CGCNN's form)
        if conv.update_edges:                                         # Eq. 4-5
            We = torch.cat([conv.e_edge.weight, conv.e_self.weight, conv.e_nbr.weight], dim=1)
            for k in slots:
                j = int(nbr[i, k])
                e_new[i, k] = e[i, k] + g(We @ torch.cat([e[i, k], v[i], v[j]]) + conv.e_edge.bias)
    return v_new, e_new


def literal_model(model, batch):
    cfg = model.config
    v, e = model.embed_inputs(batch)
    for conv in model.convs:
        v, e = literal_layer(conv, cfg, v, e, batch.neighbors, batch.mask)
    out = []
    for c in range(batch.num_crystals):
        atoms = [i for i in range(v.shape[0]) if int(batch.crystal[i]) == c]
        if cfg.pooling == "attention":                                # Eq. 8
            a = torch.stack([model.pool_score.weight[0] @ v[i] + model.pool_score.bias[0] for i in atoms])
            w = torch.exp(a) / torch.exp(a).sum()
            vec = sum(w[n] * v[i] for n, i in enumerate(atoms))
        else:                                                         # average pooling
            vec = sum(v[i] for i in atoms) / len(atoms)
        if cfg.readout_preact:
            vec = g_of(cfg)(vec)
        out.append(model.readout(vec.unsqueeze(0))[0, 0])
    return torch.stack(out)


CASES = [("cgcnn", {}), ("edge", {}), ("attention", {}), ("cg", {}), ("atten2", {}), ("ae-cgcnn", {}),
         ("ae-cgcnn", {"activation": "softplus", "atom_features": "cgcnn"})]


@pytest.mark.parametrize("preset,options", CASES, ids=[p + "".join(f"-{v}" for v in o.values()) for p, o in CASES])
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
def test_model_equals_literal_transcription(preset, options, fast):
    torch.manual_seed(0)
    model = identity_batchnorms(model_from_preset(preset, node_dim=6, n_conv=2, fc_hidden=5, edge_hidden=
                                                  None if preset == "cgcnn" else 7, **options).double())
    for conv in model.convs:
        conv.fast = fast
    rng = np.random.default_rng(0)
    graphs = [build_graph(s, charges=rng.normal(size=len(s))) for s in (triclinic(), rocksalt())]
    batch = collate([(gr, 0.0, str(i)) for i, gr in enumerate(graphs)])
    for name in ("distances", "vectors", "charges", "lattice", "pw_lattice"):
        setattr(batch, name, getattr(batch, name).double())
    with torch.no_grad():
        torch.testing.assert_close(model(batch), literal_model(model, batch), rtol=1e-9, atol=1e-10)
