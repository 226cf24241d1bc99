"""Memory-lean forms of the two per-edge steps of an AE-CGCNN conv layer (same numbers, fewer passes).

On CPU these models are bound by memory traffic: every elementwise op on the per-edge tensor
[N, K, 2MF] (N atoms, K = 12 slots, M heads, F = 64) reads and writes hundreds of MB. The plain layer
(``ConvLayer._forward_plain``, kept as the reference) materialises it about eight times forward and as
often backward. Here:

1. :func:`folded_batchnorm_projection` — BatchNorm over the valid slots of z = W_i v_i + W_j v_j + W_e e + b
   is computed from moments of the *inputs* (per-atom and per-edge sums, a D×D Gram matrix: no pass over
   [N, K, 2MF]), then folded into the three weight matrices, so the normalised z̃ comes out of one
   projection. Exact (up to float rounding): the batch statistics are the same sums, reorganised.
2. :class:`SlotAttentionSum` — out[n, m, f] = Σ_k w[n, k, m, f] · g(core[n, k, m, f]) with w the masked
   softmax over slots (and heads, Eq. 7) or the sigmoid gate (Eq. 3), as one autograd function that keeps
   only its inputs and output and recomputes w and g(core) in backward.
"""
from __future__ import annotations

import torch
from torch.nn import functional as Fn


def folded_batchnorm_projection(v: torch.Tensor, e: torch.Tensor, nbr: torch.Tensor, mask: torch.Tensor,
                                w_self: torch.Tensor, w_nbr: torch.Tensor, w_edge: torch.Tensor,
                                b_edge: torch.Tensor, bn) -> torch.Tensor:
    """BN(z) over valid slots, z_nko = (W_i v_n)_o + (W_j v_nbr(n,k))_o + (W_e e_nk)_o + b_o, without
    materialising z before normalising.

    v [N, F]; e [N, K, D] (any values in padded slots); nbr [N, K] long; mask [N, K] bool;
    w_self, w_nbr [O, F]; w_edge [O, D]; b_edge [O]; bn: a :class:`MaskedBatchNorm` (its affine parameters
    and running statistics, updated in training mode as the plain layer does) → z̃ [N, K, O]
    (padded slots hold finite garbage: callers mask them)."""
    N, K = nbr.shape
    if bn.training:  # Σ z and Σ z² over the valid slots, from moments of the inputs
        wm = mask.to(v.dtype)                                   # [N, K]
        cnt = wm.sum(1)                                         # valid slots of each atom  [N]
        count = cnt.sum()
        flat_nbr = nbr.reshape(-1)
        deg = torch.zeros(N, dtype=v.dtype, device=v.device).index_add_(0, flat_nbr, wm.reshape(-1))  # in-degree
        em = e * wm.unsqueeze(-1)                               # edges, zero in padded slots  [N, K, D]
        e_out = em.sum(1)                                       # Σ_k e_nk                    [N, D]
        e_in = torch.zeros(N, e.shape[-1], dtype=v.dtype, device=v.device).index_add_(
            0, flat_nbr, em.reshape(N * K, -1))                 # Σ of edges pointing at j    [N, D]
        v_nbrsum = torch.bmm(wm.unsqueeze(1), v.index_select(0, flat_nbr).view(N, K, -1)).squeeze(1)  # [N, F]
        gram = em.reshape(N * K, -1).T @ e.reshape(N * K, -1)   # Σ_valid e eᵀ               [D, D]
        a = v @ w_self.T                                        # [N, O]
        b = v @ w_nbr.T
        ce = e_out @ w_edge.T                                   # Σ_k W_e e_nk              [N, O]
        # Σ z over valid slots
        s1 = cnt @ a + deg @ b + e_out.sum(0) @ w_edge.T + count * b_edge
        # Σ z² = Σ a² + Σ b² + Σ c² + 2Σ ab + 2Σ ac + 2Σ bc   (c = W_e e + b)
        c2 = ((w_edge @ gram) * w_edge).sum(1) + 2 * b_edge * (e_out.sum(0) @ w_edge.T) + count * b_edge ** 2
        ab = (a * (v_nbrsum @ w_nbr.T)).sum(0)
        ac = (a * (ce + cnt.unsqueeze(1) * b_edge)).sum(0)
        bc = ((b.T @ e_in) * w_edge).sum(1) + b_edge * (deg @ b)
        s2 = cnt @ (a * a) + deg @ (b * b) + c2 + 2 * (ab + ac + bc)
    else:
        s1 = s2 = count = None
    scale, shift = bn.scale_shift(s1, s2, count)                 # [O] each; running statistics updated
    s = scale.unsqueeze(1)
    return pair_projection(v, e, nbr, w_self * s, w_nbr * s, w_edge * s, b_edge * scale + shift)


def pair_projection(v: torch.Tensor, e: torch.Tensor, nbr: torch.Tensor, w_self: torch.Tensor,
                    w_nbr: torch.Tensor, w_edge: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The linear map of z_nk = v_n ⊕ v_nbr(n,k) ⊕ e_nk as W_i v_n + W_j v_nbr + W_e e_nk + b (docs/design-notes.md §6).

    v [N, F]; e [N, K, D]; nbr [N, K]; w_self, w_nbr [O, F]; w_edge [O, D]; bias [O] or None → [N, K, O].
    One pass writes the per-edge output: the two node terms are projected per atom and summed per slot by
    ``embedding_bag`` (no gathered copy), then the edge GEMM accumulates into the same buffer. Never an
    in-place op on a view, so autograd makes no copies of the [N·K, O] tensor."""
    N, K = nbr.shape
    node = v @ w_self.T
    if bias is not None:
        node = node + bias
    table = torch.cat([v @ w_nbr.T, node], dim=0)              # rows 0..N-1 neighbour terms, N..2N-1 self terms
    centre = torch.arange(N, device=nbr.device).repeat_interleave(K) + N
    bags = torch.stack([nbr.reshape(-1), centre], dim=1)        # [N·K, 2]
    z = Fn.embedding_bag(bags, table, mode="sum")               # [N·K, O]
    z.addmm_(e.reshape(N * K, -1), w_edge.T)
    return z.view(N, K, -1)


def _act(x: torch.Tensor, activation: str) -> torch.Tensor:
    return torch.relu(x) if activation == "relu" else Fn.softplus(x)


def _act_grad(x: torch.Tensor, activation: str) -> torch.Tensor:
    return (x > 0).to(x.dtype) if activation == "relu" else torch.sigmoid(x)


def slot_weights(filt: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Neighbour weights from filter logits filt [N, K, M, F] and mask [N, K]:
    ``gate`` σ(filt)·mask (Eq. 3); ``joint`` softmax over (slots, heads) (Eqs. 6-7); ``per-head`` softmax over
    the slots of each head. Padded slots get weight 0."""
    m = mask.view(mask.shape[0], mask.shape[1], 1, 1)
    if mode == "gate":
        return torch.sigmoid(filt) * m
    N, K, M, F = filt.shape
    logits = filt.masked_fill(~m, float("-inf"))
    # one vectorised softmax over dim 1: slots × heads (joint) or slots (per head, heads × channels inner)
    flat = logits.view(N, K * M, F) if mode == "joint" else logits.view(N, K, M * F)
    return torch.softmax(flat, dim=1).view(N, K, M, F)


class SlotAttentionSum(torch.autograd.Function):
    """out [N, M, F] = Σ_k slot_weights(filt)[n, k, m, f] · act(core[n, k, m, f]) from
    z [N, K, M, 2, F] (filt = z[:, :, :, 0], core = z[:, :, :, 1]: the layout of the projection rows), mask [N, K]; mode ``gate`` | ``joint`` |
    ``per-head``; activation ``relu`` | ``softplus``. Saves z, mask and out; backward recomputes the weights."""

    @staticmethod
    def forward(ctx, z, mask, mode: str, activation: str):
        filt, core = z[:, :, :, 0], z[:, :, :, 1]
        w = slot_weights(filt, mask, mode)
        out = w.mul_(_act(core, activation)).sum(1)
        ctx.save_for_backward(z, mask, out)
        ctx.mode, ctx.activation = mode, activation
        return out

    @staticmethod
    def backward(ctx, g):
        z, mask, out = ctx.saved_tensors
        filt, core = z[:, :, :, 0], z[:, :, :, 1]
        w = slot_weights(filt, mask, ctx.mode)
        gk = g.unsqueeze(1)                                     # [N, 1, M, F]
        grad = torch.empty_like(z)
        # ∂/∂core = w · g · act'(core)
        torch.mul(w, gk, out=grad[:, :, :, 1])
        grad[:, :, :, 1].mul_(_act_grad(core, ctx.activation))
        a = _act(core, ctx.activation)
        if ctx.mode == "gate":  # ∂/∂filt = g · act(core) · σ'(filt) · mask = g · a · w · (1 − σ)
            torch.mul(a.mul_(gk), w, out=grad[:, :, :, 0])
            grad[:, :, :, 0].mul_(1 - torch.sigmoid(filt))
        else:  # softmax: ∂/∂filt = w · (g·a − Σ_{normalised dims} w·g·a), and Σ_k w·a·g = g·out
            r = g * out                                         # [N, M, F]
            if ctx.mode == "joint":
                r = r.sum(1, keepdim=True)                      # over the heads too
            torch.mul(a.mul_(gk).sub_(r.unsqueeze(1)), w, out=grad[:, :, :, 0])
        return grad, None, None, None
