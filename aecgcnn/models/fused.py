"""Memory-lean forms of the two per-edge steps of an AE-CGCNN conv layer (same numbers, fewer passes).

On CPU these models are bound by memory traffic: every elementwise op on the per-edge tensor
[N, K, 2MF] (N atoms, K = 12 slots, M heads, F = 64) reads and writes hundreds of MB. The plain layer
(``ConvLayer._forward_plain``, kept as the reference) materialises it about eight times forward and as
often backward. Here:

1. :func:`folded_batchnorm_weights` — BatchNorm over the valid slots of z = W_i v_i + W_j v_j + W_e e + b
   is computed from moments of the *inputs* (per-atom and per-edge sums, a D×D Gram matrix: no pass over
   [N, K, 2MF]), then folded into the three weight matrices, so the normalised z̃ comes out of one
   projection. Exact (up to float rounding): the batch statistics are the same sums, reorganised.
2. :class:`EdgeAttention` — the normalised projection and out[n, m, f] = Σ_k w[n, k, m, f] · g(core[n, k, m, f])
   with w the masked softmax over slots (and heads, Eq. 7) or the sigmoid gate (Eq. 3), as one autograd
   function that works on chunks of atoms small enough to stay in cache and keeps only its inputs and
   output: backward recomputes each chunk's projection, weights and g(core).
3. :class:`EdgeEmbedding` — the first layer's edge inputs (Gaussians, radial and plane-wave bases) embedded
   chunk by chunk, the inputs recomputed in backward.
4. :class:`EdgeUpdate` — Eq. 4-5 (e' = e + act(W_i v_i + W_j v_j + W_e e + b), masked) in the same chunked form.

The elementwise part of each chunk runs as one compiled loop on CPU (:data:`KERNELS`); the plain layer and
these forms agree to float rounding (tests/test_fused.py, both with one chunk and with many). Optionally
(:func:`edge_precision`, the run configuration's ``edge_precision``) the per-edge GEMMs of :class:`EdgeAttention`
run in bfloat16 with float32 accumulation, everything elementwise staying float32.
"""
from __future__ import annotations

import contextlib
import os
import types
import warnings

import torch
from torch.nn import functional as Fn

from aecgcnn.config import EDGE_PRECISION, EDGE_PRECISION_BY_TASK


def folded_batchnorm_weights(v: torch.Tensor, e: torch.Tensor, nbr: torch.Tensor, mask: torch.Tensor,
                             w_self: torch.Tensor, w_nbr: torch.Tensor, w_edge: torch.Tensor,
                             b_edge: torch.Tensor, bn) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """BN(z) over valid slots, z_nko = (W_i v_n)_o + (W_j v_nbr(n,k))_o + (W_e e_nk)_o + b_o, folded into the
    weights: returns (W_i', W_j', W_e', b') with BN(z) = W_i' v_n + W_j' v_nbr + W_e' e_nk + b', so z is never
    materialised before normalising.

    v [N, F]; e [N, K, D] (zero in padded slots, as :meth:`AECGCNN.embed_inputs` and the edge update keep it); nbr [N, K] long; mask [N, K] bool;
    w_self, w_nbr [O, F]; w_edge [O, D]; b_edge [O]; bn: a :class:`MaskedBatchNorm` (its affine parameters
    and running statistics, updated in training mode as the plain layer does) → z̃ [N, K, O]
    (padded slots hold finite garbage: callers mask them)."""
    N, K = nbr.shape
    if bn.training:  # Σ z and Σ z² over the valid slots, from moments of the inputs: every term is a quadratic
        # form of a small Gram matrix (F×F, F×D, D×D), diag(A G Bᵀ) = ((A @ G) * B).sum(1)
        wm = mask.to(v.dtype)                                   # [N, K]
        cnt = wm.sum(1)                                         # valid slots of each atom  [N]
        count = cnt.sum()
        flat_nbr = nbr.reshape(-1)
        deg = torch.zeros(N, dtype=v.dtype, device=v.device).index_add_(0, flat_nbr, wm.reshape(-1))  # in-degree
        e_flat = e.reshape(N * K, -1)
        e_out = e.sum(1)                                        # Σ_k e_nk                    [N, D]
        e_in = torch.zeros_like(e_out).index_add_(0, flat_nbr, e_flat)  # Σ of edges pointing at j  [N, D]
        v_nbrsum = Fn.embedding_bag(nbr, v, per_sample_weights=wm, mode="sum")  # Σ_valid k v_nbr(n,k)  [N, F]
        sv_cnt, sv_deg, se = cnt @ v, deg @ v, e_out.sum(0)     # [F], [F], [D]
        b_e = b_edge

        def quad(a, g, b):  # Σ over rows of (A x)_o (B y)_o given g = Σ x yᵀ  → [O]
            return ((a @ g) * b).sum(1)
        # Σ z = Σ a + Σ b + Σ c  (a = W_i v_n, b = W_j v_nbr, c = W_e e + b_e)
        s1 = w_self @ sv_cnt + w_nbr @ sv_deg + w_edge @ se + count * b_e
        aa = quad(w_self, (v * cnt.unsqueeze(1)).T @ v, w_self)
        bb = quad(w_nbr, (v * deg.unsqueeze(1)).T @ v, w_nbr)
        cc = quad(w_edge, e_flat.T @ e_flat, w_edge) + 2 * b_e * (w_edge @ se) + count * b_e ** 2
        ab = quad(w_self, v.T @ v_nbrsum, w_nbr)
        ac = quad(w_self, v.T @ e_out, w_edge) + b_e * (w_self @ sv_cnt)
        bc = quad(w_nbr, v.T @ e_in, w_edge) + b_e * (w_nbr @ sv_deg)
        s2 = aa + bb + cc + 2 * (ab + ac + bc)                  # Σ z²
    else:
        s1 = s2 = count = None
    scale, shift = bn.scale_shift(s1, s2, count)                 # [O] each; running statistics updated
    s = scale.unsqueeze(1)
    return w_self * s, w_nbr * s, w_edge * s, b_edge * scale + shift


def _act(x: torch.Tensor, activation: str) -> torch.Tensor:
    return torch.relu(x) if activation == "relu" else Fn.softplus(x)


def _act_grad(x: torch.Tensor, activation: str) -> torch.Tensor:
    return (x > 0).to(x.dtype) if activation == "relu" else torch.sigmoid(x)


#: bytes per torch thread of one chunk's per-edge tensor [atoms, K, 2MF]: about the L2 cache of a core (chosen by
#: timing CoRE training batches; benchmarks/train_throughput.py measures the result)
CHUNK_BYTES = 2 * 2**20


def chunk_rows(n_slots: int, width: int, itemsize: int = 4) -> int:
    """Atoms per chunk so that one chunk's per-edge tensor [rows, n_slots, width] takes about
    :data:`CHUNK_BYTES` per torch thread."""
    return max(1, CHUNK_BYTES * torch.get_num_threads() // max(1, n_slots * width * itemsize))


def chunks(like: torch.Tensor, n_atoms: int, n_slots: int, width: int):
    """(s, t, full) for consecutive chunks of atoms s..t-1 covering 0..n_atoms-1: :func:`chunk_rows` atoms each on
    CPU (``full`` False only for a ragged last chunk), one chunk of everything on other devices. ``like``: a
    tensor of the chunked computation (its device and item size)."""
    rows = chunk_rows(n_slots, width, like.element_size()) if like.device.type == "cpu" else max(n_atoms, 1)
    for s in range(0, n_atoms, rows):
        t = min(n_atoms, s + rows)
        yield s, t, t - s == rows


def _weights(filt: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Neighbour weights w [c, K, M, F] from filter logits filt [c, K, M, F] and mask [c, K]: ``gate`` σ(filt)·mask
    (Eq. 3); ``joint`` softmax over slots × heads (Eqs. 6-7); ``per-head`` softmax over the slots of each head.
    Padded slots get weight 0."""
    m = mask.view(mask.shape[0], mask.shape[1], 1, 1)
    if mode == "gate":
        return torch.sigmoid(filt) * m
    dims = (1, 2) if mode == "joint" else (1,)
    logits = filt.masked_fill(~m, float("-inf"))
    p = torch.exp(logits - logits.amax(dim=dims, keepdim=True))
    return p / p.sum(dim=dims, keepdim=True)


def slot_forward(zp: torch.Tensor, node: torch.Tensor, mask: torch.Tensor, heads: int, mode: str,
                 activation: str) -> torch.Tensor:
    """out [c, M, F] = Σ_k w · act(core) for one chunk of c atoms: z = zp + node (broadcast over slots) viewed
    [c, K, M, 2, F] (filter logits, core); zp [c, K, O] (neighbour and edge terms; overwritten when run eagerly),
    node [c, O] (self term and bias), mask [c, K]. The softmax is normalised after the sum over slots
    (Σ_k (p/den)·a = (Σ_k p·a)/den), so no pass divides the [c, K, M, F] weights."""
    c, K, O = zp.shape
    if torch.compiler.is_compiling():
        z = zp + node.unsqueeze(1)                              # fused: a bf16 zp is widened as it is read
    else:
        z = (zp if zp.dtype == node.dtype else zp.to(node.dtype)).add_(node.unsqueeze(1))
    filt, core = z.view(c, K, heads, 2, O // (2 * heads)).unbind(3)
    m = mask.view(c, K, 1, 1)
    a = _act(core, activation)
    if mode == "gate":
        return (torch.sigmoid(filt) * m * a).sum(1)
    dims = (1, 2) if mode == "joint" else (1,)
    p = filt.masked_fill(~m, float("-inf"))
    p = torch.exp(p - p.amax(dim=dims, keepdim=True))
    return (p * a).sum(1) / p.sum(dim=dims, keepdim=True).squeeze(1)


def slot_backward(zp: torch.Tensor, node: torch.Tensor, mask: torch.Tensor, g: torch.Tensor, out: torch.Tensor,
                  heads: int, mode: str, activation: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(∂L/∂z [c, K, O], its sum over slots [c, O] = ∂L/∂node) of :func:`slot_forward` given g = ∂L/∂out [c, M, F]
    and its output ``out``."""
    c, K, O = zp.shape
    filt, core = (zp + node.unsqueeze(1)).view(c, K, heads, 2, O // (2 * heads)).unbind(3)
    w = _weights(filt, mask, mode)
    gk = g.unsqueeze(1)                                         # [c, 1, M, F]
    g_core = w * gk * _act_grad(core, activation)               # w · g · act'(core)
    ga = _act(core, activation) * gk                            # g · act(core)
    if mode == "gate":  # σ' = σ(1 − σ), and w = σ · mask
        g_filt = ga * w * (1 - torch.sigmoid(filt))
    else:  # softmax: w · (g·a − Σ w·g·a), with Σ_k w·g·a = g·out (summed over heads too when joint)
        r = g * out
        r = r.sum(1, keepdim=True) if mode == "joint" else r
        g_filt = w * (ga - r.unsqueeze(1))
    gz = torch.stack([g_filt, g_core], dim=3).view(c, K, O)
    return gz, gz.sum(1)


def slot_backward_low(zp: torch.Tensor, node: torch.Tensor, mask: torch.Tensor, g: torch.Tensor, out: torch.Tensor,
                      heads: int, mode: str, activation: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`slot_backward` for a low-precision ``zp``: (∂L/∂z float32, ∂L/∂z in zp's dtype for the GEMMs,
    ∂L/∂node float32); compiled, both copies are written in the same loop."""
    gz, g_node = slot_backward(zp, node, mask, g, out, heads, mode, activation)
    return gz, gz.to(zp.dtype), g_node


#: how the chunk kernels run on CPU: ``compiled`` (torch.compile, fused loops; falls back to ``eager`` with a
#: warning where compilation fails, e.g. no C++ compiler) | ``eager``. Environment: AECGCNN_KERNELS.
KERNELS = os.environ.get("AECGCNN_KERNELS", "compiled").lower()
#: full-chunk calls of a kernel (per shape, dtype and mode) that run eagerly before it is compiled. A count, not a
#: time, so that the switch happens at the same step in every run of the same command and after every resume
#: (compiled and eager kernels round differently, and a training run amplifies the difference). 0 (the default):
#: compiled from the first call; training always runs long enough to repay the seconds of compiling (docs/
#: performance.md). Prediction jobs decide from their size (:func:`compile_for_job`); the test suite runs
#: eager (conftest.py). Environment: AECGCNN_COMPILE_AFTER.
COMPILE_AFTER = int(os.environ.get("AECGCNN_COMPILE_AFTER", "0"))
#: structures from which a prediction or screening job compiles its kernels: where compiling stops costing more
#: than it saves (benchmarks/predict_throughput.py), so smaller jobs stay eager
PREDICT_COMPILE_FROM = 1000
#: precisions of the per-edge GEMMs of :class:`EdgeAttention` (a run configuration key, ``edge_precision``)
EDGE_PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}
def default_edge_precision(task: str | None) -> str:
    """The default ``edge_precision`` of a run on data of ``task`` (a :class:`aecgcnn.data.datasets.DatasetSpec`
    task; None for a user's own data): :data:`aecgcnn.config.EDGE_PRECISION_BY_TASK`, else
    :data:`aecgcnn.config.EDGE_PRECISION`."""
    return EDGE_PRECISION_BY_TASK.get(task, EDGE_PRECISION)


#: dtype of the per-edge GEMMs of :class:`EdgeAttention` on CPU (the neighbour and edge terms of z, forward and
#: recomputed in backward, and the two backward products with ∂L/∂z): None = float32; torch.bfloat16 runs them
#: on the CPU's bf16 units with half the memory traffic, accumulating in float32 (the self term, the softmax,
#: the sums over slots and the scatter of ∂L/∂z stay float32). Set per run by :func:`edge_precision`.
EDGE_DTYPE = None
_NEVER = 2 ** 62
_COMPILED: dict = {}
_CALLS: dict = {}


@contextlib.contextmanager
def compile_for_job(n_structures: int | None):
    """Within this context (an inference job of ``n_structures``; None: unknown, e.g. a streamed screen) the kernels
    are compiled from the first call when the job has at least :data:`PREDICT_COMPILE_FROM` structures or is of
    unknown size, else kept eager; the previous setting is restored afterwards. An explicit AECGCNN_COMPILE_AFTER
    wins."""
    global COMPILE_AFTER
    before = COMPILE_AFTER
    if "AECGCNN_COMPILE_AFTER" not in os.environ:
        COMPILE_AFTER = 0 if n_structures is None or n_structures >= PREDICT_COMPILE_FROM else _NEVER
    try:
        yield
    finally:
        COMPILE_AFTER = before


@contextlib.contextmanager
def edge_precision(name: str | None):
    """Within this context the per-edge GEMMs run in ``name`` (a key of :data:`EDGE_PRECISIONS`; None: leave the
    current setting); the previous setting is restored afterwards."""
    global EDGE_DTYPE
    before = EDGE_DTYPE
    if name is not None:
        if name not in EDGE_PRECISIONS:
            raise ValueError(f"edge_precision must be one of {sorted(EDGE_PRECISIONS)}, not {name!r}")
        EDGE_DTYPE = EDGE_PRECISIONS[name]
    try:
        yield
    finally:
        EDGE_DTYPE = before


def kernel_state() -> str:
    """How the chunk kernels run in this process (for provenance stamps)."""
    failed = [k for k, v in _COMPILED.items() if v is None]
    if KERNELS != "compiled" or COMPILE_AFTER >= _NEVER:
        state = "eager"
    else:
        state = "compiled" + (f" after {COMPILE_AFTER} eager calls per kernel" if COMPILE_AFTER else "")
    return state + (f" (compile failed for {len(failed)} kernels: eager)" if failed else "")


def _kernel(fn, z: torch.Tensor, key: tuple):
    """``fn`` compiled for full chunks of this shape, dtype and mode on CPU (one static-shape graph per key, each
    on its own copy of the code so that dynamo's per-code recompile limit never applies), else ``fn``."""
    key = (fn.__name__, tuple(z.shape), z.dtype, *key)
    if key not in _COMPILED:
        code = fn.__code__.replace(co_name=f"{fn.__name__}_{len(_COMPILED)}")
        copy = types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)
        _COMPILED[key] = torch.compile(copy, dynamic=False, fullgraph=True)
    return _COMPILED[key] or fn


def _run(fn, key: tuple, full: bool, z: torch.Tensor, *args):
    """fn(z, *args, *key) with the compiled kernel for full chunks once this kernel has run eagerly
    :data:`COMPILE_AFTER` times (:data:`KERNELS`); a ragged last chunk, GPU tensors and tracing under an outer
    torch.compile take the eager kernel."""
    if not full or KERNELS != "compiled" or z.device.type != "cpu" or torch.compiler.is_compiling():
        return fn(z, *args, *key)
    full_key = (fn.__name__, tuple(z.shape), z.dtype, *key)
    calls = _CALLS.get(full_key, 0)
    if calls < COMPILE_AFTER:
        _CALLS[full_key] = calls + 1
        return fn(z, *args, *key)
    k = _kernel(fn, z, key)
    if k is fn:
        return fn(z, *args, *key)
    try:
        return k(z, *args, *key)
    except Exception as err:  # noqa: BLE001 - any compiler failure: keep training with the eager kernel
        _COMPILED[(fn.__name__, tuple(z.shape), z.dtype, *key)] = None
        warnings.warn(f"aecgcnn: torch.compile of the {fn.__name__} kernel failed ({type(err).__name__}: "
                      f"{str(err).splitlines()[0][:200]}); using the eager kernel (AECGCNN_KERNELS=eager "
                      "silences this)", RuntimeWarning, stacklevel=2)
        return fn(z, *args, *key)


def _low(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """float32 ``tensors`` in :data:`EDGE_DTYPE` on CPU (the inputs of :func:`gather_project`), else unchanged
    (float64, e.g. gradient checks, stays exact)."""
    if EDGE_DTYPE is None or tensors[0].device.type != "cpu" or tensors[0].dtype != torch.float32:
        return tensors
    return tuple(x.to(EDGE_DTYPE) for x in tensors)


def gather_project(table: torch.Tensor, e: torch.Tensor, w: torch.Tensor, nbr: torch.Tensor, s: int,
                   t: int) -> torch.Tensor:
    """table[nbr(n, k)] + W e_nk for atoms s..t-1: table [N, O], e [N, K, D], w [O, D], nbr [N, K] → [t−s, K, O]
    (the neighbour and edge terms of a per-edge projection; the self term is added by the kernels)."""
    c, K = t - s, nbr.shape[1]
    z = table.index_select(0, nbr[s:t].reshape(-1))             # [c·K, O]
    return z.addmm_(e[s:t].reshape(c * K, -1), w.T).view(c, K, -1)


class EdgeAttention(torch.autograd.Function):
    """The per-edge part of a conv layer (Eqs. 3 / 6 / 7 before the head mix), chunk by chunk over atoms:

        z_nk = node_n + nbrp_nbr(n,k) + W_e e_nk          (normalised projection, folded batch norm)
        out[n, m, f] = Σ_k w[n, k, m, f] · act(core[n, k, m, f]),  (filt, core) = z_nk viewed [M, 2, F]

    with w the sigmoid gate or the masked softmax over slots (× heads for ``joint``). Inputs: node, nbrp
    [N, O] (O = 2MF; the self term with the bias, the neighbour term), e [N, K, D], w_edge [O, D], nbr, mask
    [N, K], heads M, mode ``gate`` | ``joint`` | ``per-head``, activation ``relu`` | ``softplus``,
    need_weights. Returns out [N, M, F] and the channel-averaged weights [N, K, M] (empty unless
    need_weights; not differentiable).

    Nothing of size [N, K, O] is ever allocated: each chunk of atoms (:func:`chunk_rows`) is projected,
    weighted and summed while it is in cache (the elementwise part by :func:`slot_forward` /
    :func:`slot_backward`, compiled into fused loops on CPU, see :data:`KERNELS`), and backward recomputes the
    chunk's z from the saved inputs (one extra small GEMM) instead of storing it, so memory traffic and peak
    memory scale with [N, K, D]."""

    @staticmethod
    def forward(ctx, node, nbrp, e, w_edge, nbr, mask, heads: int, mode: str, activation: str,
                need_weights: bool):
        N, K = nbr.shape
        O = node.shape[1]
        out = node.new_empty(N, heads, O // (2 * heads))
        weights = node.new_empty(N, K, heads) if need_weights else node.new_empty(0)
        key = (heads, mode, activation)
        lp_nbrp, lp_e, lp_w = _low(nbrp, e, w_edge)
        for s, t, full in chunks(node, N, K, O):
            zp = gather_project(lp_nbrp, lp_e, lp_w, nbr, s, t)
            if need_weights:  # before the kernel, which may overwrite zp
                z = (zp + node[s:t].unsqueeze(1)).view(t - s, K, heads, 2, -1)
                weights[s:t] = _weights(z[:, :, :, 0], mask[s:t], mode).mean(-1)
            out[s:t] = _run(slot_forward, key, full, zp, node[s:t], mask[s:t])
        ctx.save_for_backward(node, nbrp, e, w_edge, nbr, mask, out)
        ctx.heads, ctx.mode, ctx.activation = heads, mode, activation
        ctx.mark_non_differentiable(weights)
        return out, weights

    @staticmethod
    def backward(ctx, g, _g_weights):
        node, nbrp, e, w_edge, nbr, mask, out = ctx.saved_tensors
        N, K = nbr.shape
        O, D = node.shape[1], e.shape[-1]
        g = g.contiguous()
        g_node = torch.empty_like(node)
        g_nbrp = torch.zeros_like(nbrp)
        g_e = torch.empty(e.shape, dtype=e.dtype, device=e.device)
        g_wt = w_edge.new_zeros(D, O)                           # ∂L/∂W_eᵀ (the faster GEMM orientation)
        key = (ctx.heads, ctx.mode, ctx.activation)
        lp_nbrp, lp_e, lp_w = _low(nbrp, e, w_edge)
        low = lp_w.dtype != w_edge.dtype
        for s, t, full in chunks(node, N, K, O):
            c = t - s
            zp = gather_project(lp_nbrp, lp_e, lp_w, nbr, s, t)
            if low:  # the kernel also writes ∂L/∂z in the GEMMs' dtype; the scatter sums the float32 one
                gz, gz_lp, g_node[s:t] = _run(slot_backward_low, key, full, zp, node[s:t], mask[s:t], g[s:t],
                                              out[s:t])
            else:
                gz, g_node[s:t] = _run(slot_backward, key, full, zp, node[s:t], mask[s:t], g[s:t], out[s:t])
                gz_lp = gz
            flat, flat_lp = gz.view(c * K, O), gz_lp.view(c * K, O)
            g_nbrp.index_add_(0, nbr[s:t].reshape(-1), flat)
            e_c = lp_e[s:t].reshape(c * K, D)
            g_e_c = g_e[s:t].view(c * K, D)
            if low:  # bf16 products (float32 accumulation inside the GEMM), widened when stored
                g_e_c.copy_(torch.mm(flat_lp, lp_w))            # ∂L/∂e = gz W_e
                g_wt += torch.mm(e_c.T, flat_lp)
            else:
                torch.mm(flat, w_edge, out=g_e_c)
                g_wt.addmm_(e_c.T, flat)
        g_w = g_wt.T
        return g_node, g_nbrp, g_e, g_w, None, None, None, None, None, None


def edge_forward(pp: torch.Tensor, node: torch.Tensor, e: torch.Tensor, mask: torch.Tensor,
                 activation: str) -> torch.Tensor:
    """Eq. 4-5 for one chunk: e' = (e + act(pp + node)) · mask with pp [c, K, D] (neighbour and edge terms of the
    pre-activation), node [c, D] (self term and bias), e [c, K, D], mask [c, K] → [c, K, D]."""
    return (e + _act(pp + node.unsqueeze(1), activation)) * mask.unsqueeze(-1)


def edge_backward(pp: torch.Tensor, node: torch.Tensor, g: torch.Tensor, mask: torch.Tensor,
                  activation: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of :func:`edge_forward` given g = ∂L/∂e' [c, K, D]: (∂L/∂e through the residual [c, K, D],
    ∂L/∂pre [c, K, D], its sum over slots [c, D] = ∂L/∂node)."""
    gm = g * mask.unsqueeze(-1)
    g_pre = gm * _act_grad(pp + node.unsqueeze(1), activation)
    return gm, g_pre, g_pre.sum(1)


class EdgeUpdate(torch.autograd.Function):
    """Eq. 4-5, e'_nk = (e_nk + act(node_n + nbrp_nbr(n,k) + W e_nk)) · mask_nk, chunk by chunk over atoms as
    :class:`EdgeAttention` (kernels :func:`edge_forward` / :func:`edge_backward`; backward recomputes the
    pre-activation). Inputs: node [N, D] (W_i v + b), nbrp [N, D] (W_j v), e [N, K, D], w [D, D], nbr, mask
    [N, K], activation → e' [N, K, D] (zero in padded slots)."""

    @staticmethod
    def forward(ctx, node, nbrp, e, w, nbr, mask, activation: str):
        N, K = nbr.shape
        D = e.shape[-1]
        out = torch.empty(e.shape, dtype=e.dtype, device=e.device)
        for s, t, full in chunks(e, N, K, D):
            pp = gather_project(nbrp, e, w, nbr, s, t)
            out[s:t] = _run(edge_forward, (activation,), full, pp, node[s:t], e[s:t], mask[s:t])
        ctx.save_for_backward(node, nbrp, e, w, nbr, mask)
        ctx.activation = activation
        return out

    @staticmethod
    def backward(ctx, g):
        node, nbrp, e, w, nbr, mask = ctx.saved_tensors
        N, K = nbr.shape
        D = e.shape[-1]
        g = g.contiguous()
        g_node = torch.empty_like(node)
        g_nbrp = torch.zeros_like(nbrp)
        g_e = torch.empty(e.shape, dtype=e.dtype, device=e.device)
        g_wt = w.new_zeros(D, D)
        for s, t, full in chunks(e, N, K, D):
            c = t - s
            pp = gather_project(nbrp, e, w, nbr, s, t)
            gm, g_pre, g_node[s:t] = _run(edge_backward, (ctx.activation,), full, pp, node[s:t], g[s:t],
                                          mask[s:t])
            flat = g_pre.view(c * K, D)
            g_nbrp.index_add_(0, nbr[s:t].reshape(-1), flat)
            e_c = e[s:t].reshape(c * K, D)
            torch.addmm(gm.view(c * K, D), flat, w, out=g_e[s:t].view(c * K, D))  # residual + g_pre W
            g_wt.addmm_(e_c.T, flat)
        return g_node, g_nbrp, g_e, g_wt.T, None, None, None


class EdgeEmbedding(torch.autograd.Function):
    """The first layer's edge embedding, (W x_nk + b) · mask_nk, with the input features x computed chunk by chunk
    by ``features(s, t)`` → [t−s, K, D] (Gaussians, radial and plane-wave bases of the distances and vectors) and
    recomputed in backward for ∂L/∂W, so the [N, K, D] inputs never exist at once. weight [H, D], bias [H],
    mask [N, K] → [N, K, H] (zero in padded slots)."""

    @staticmethod
    def forward(ctx, weight, bias, features, mask):
        N, K = mask.shape
        H, D = weight.shape
        out = weight.new_empty(N, K, H)
        for s, t, _ in chunks(weight, N, K, D + H):
            x = features(s, t).reshape((t - s) * K, D)
            torch.addmm(bias, x, weight.T, out=out[s:t].view((t - s) * K, H))
            out[s:t] *= mask[s:t].unsqueeze(-1)
        ctx.save_for_backward(weight, mask)
        ctx.features = features
        return out

    @staticmethod
    def backward(ctx, g):
        weight, mask = ctx.saved_tensors
        N, K = mask.shape
        H, D = weight.shape
        g = g * mask.unsqueeze(-1)
        g_wt = weight.new_zeros(D, H)
        for s, t, _ in chunks(weight, N, K, D + H):
            g_wt.addmm_(ctx.features(s, t).reshape((t - s) * K, D).T, g[s:t].reshape((t - s) * K, H))
        return g_wt.T, g.sum((0, 1)), None, None


def edge_embedding(weight, bias, features, mask):
    """:class:`EdgeEmbedding` ([N, K, H])."""
    return EdgeEmbedding.apply(weight, bias, features, mask)


def edge_attention(node, nbrp, e, w_edge, nbr, mask, heads: int, mode: str, activation: str, need_weights: bool):
    """:class:`EdgeAttention` (out [N, M, F], weights [N, K, M] or empty)."""
    return EdgeAttention.apply(node, nbrp, e, w_edge, nbr, mask, heads, mode, activation, need_weights)


def edge_update(node, nbrp, e, w, nbr, mask, activation: str):
    """:class:`EdgeUpdate` (e' [N, K, D])."""
    return EdgeUpdate.apply(node, nbrp, e, w, nbr, mask, activation)


def exclude_from_outer_compile() -> None:
    """Make an outer torch.compile (``AECGCNN.compile_layers``) leave :func:`edge_embedding`,
    :func:`edge_attention` and :func:`edge_update` as they are (their loops over chunks run their own compiled
    kernels): wraps them in ``torch.compiler.disable``. Not done at import because that imports torch._dynamo
    (about 1 s of every command's start-up); callers reach the functions through this module, so the wrapped
    ones are used from then on."""
    g = globals()
    for name in ("edge_embedding", "edge_attention", "edge_update"):
        if not getattr(g[name], "_aecgcnn_excluded", False):
            g[name] = torch.compiler.disable(g[name])
            g[name]._aecgcnn_excluded = True
