r"""Bottleneck cycles of weighted digraphs: the combinatorial core of the Pareto gap.

For a square weight matrix W (T nodes, self-loops included) the *bottleneck* is

    B(W) = max over directed cycles (self-loops and 2-cycles included) of the smallest weight on it,

the largest r such that the graph {W >= r} has a cycle. Everything here is a max-min of entries of
W (no arithmetic), so B is exact in any float dtype, and an edge (t, s) of an optimal cycle with
W[t, s] = B is returned alongside it (the gradient of the Pareto gap lives on that edge).

Two exact algorithms, chosen by T and the backend (crossover measured with
`benchmarks/pareto_gap.py`):

- **closure** (small T): Floyd-Warshall in the (max, min) semiring, C[t, s] = max over paths
  t -> s of the smallest weight; B = max_t C[t, t]. O(T^3), unrolled into straight-line fused
  kernels.
- **peeling** (larger T), O(T^2) per round and typically a handful of rounds:
  1. a lower bound lb from the best 2-cycle or self-loop, max of min(W, W^T) (an actual cycle);
  2. at level l = lb, remove nodes without an in- or an out-edge above l among the remaining ones,
     until nothing changes. Every cycle with bottleneck above l survives (each of its nodes keeps
     its cycle edges), so if nothing survives, B = lb exactly;
  3. otherwise every surviving node has an out-edge above l to a survivor: following each node's
     best such edge (a functional graph) leads into cycles whose edges all lie above l; the best
     of them (found for all nodes at once by pointer doubling) is an actual cycle with bottleneck
     lb' > l. Set l = lb' and peel again from the survivors. l strictly increases, so this ends,
     with B = l and the bottleneck edge of the last cycle found.

On revealed-preference data the 2-cycle bound is usually already exact and peeling takes a few
rounds, so the cost is a few passes over W instead of T.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

_UNROLL_T = 64  # unroll Floyd-Warshall up to this T (straight-line fused kernels)
_CHUNK_BYTES = 2**19  # CPU, closure: matrices per chunk of about this size (cache-resident)
_PEEL_CHUNK = 6  # CPU, peeling: matrices per chunk (measured best from T = 16 to T = 200)
PEEL_T = {"cpu": 16, "gpu": 24, "tpu": 24}
"""Smallest T at which peeling replaces the closure, per backend (see `benchmarks/pareto_gap.py`)."""


def bottleneck_closure(W: Float[Array, "... T T"]) -> Float[Array, "... T T"]:
    """(max, min) closure: C[t, s] = max over paths t -> s (length >= 1) of the smallest weight.

    Floyd-Warshall in the (max, min) semiring, O(T^3) per matrix; any leading batch axes.
    """
    T = W.shape[-1]
    if T <= _UNROLL_T:
        C = W
        for k in range(T):
            C = jnp.maximum(C, jnp.minimum(C[..., :, k : k + 1], C[..., k : k + 1, :]))
        return C

    def relax(k, C):
        col = jax.lax.dynamic_index_in_dim(C, k, axis=-1, keepdims=True)  # (..., T, 1)
        row = jax.lax.dynamic_index_in_dim(C, k, axis=-2, keepdims=True)  # (..., 1, T)
        return jnp.maximum(C, jnp.minimum(col, row))

    return jax.lax.fori_loop(0, T, relax, W)


def _closure_edge(W):
    """(B, t, s) of one (T, T) matrix by the closure."""
    T = W.shape[-1]
    C = bottleneck_closure(W)
    B = jnp.max(jnp.diagonal(C))
    # (t, s) lies on an optimal cycle iff W[t, s] >= B and s reaches t at level B (or s = t)
    on_cycle = (W == B) & ((C.T >= B) | jnp.eye(T, dtype=bool))
    k = jnp.argmax(on_cycle.reshape(-1)).astype(jnp.int32)
    return B, k // T, k % T


# Peeling. XLA's CPU reductions over the minor axis are scalar loops, several times slower than
# over the major one, so every reduction below runs over axis 0 (transposing a boolean matrix
# where needed).


def _peel(above, alive):
    """Iteratively drop nodes without an in- or an out-edge of `above` among the alive ones."""
    below = above.T  # below[s, t] = above[t, s]

    def body(carry):
        alive, _ = carry
        inn = jnp.any(above & alive[:, None], axis=0)  # an edge from an alive node
        out = jnp.any(below & alive[:, None], axis=0)  # an edge to an alive node
        new = alive & inn & out
        return new, jnp.any(new != alive)

    return jax.lax.while_loop(lambda c: c[1], body, (alive, jnp.array(True)))[0]


def _functional_cycle(W, alive):
    """Best cycle of "each alive node <- its best alive in-neighbour": (B, t, s).

    Needs every alive node to have an alive in-neighbour (true after peeling); following the
    in-neighbours backwards from any node reaches a cycle of the graph.
    """
    T = W.shape[-1]
    neg = jnp.asarray(-jnp.inf, W.dtype)
    Wa = jnp.where(alive[:, None], W, neg)
    w = jnp.max(Wa, axis=0)  # w[s]: best in-edge of s
    pred = jnp.min(jnp.where(Wa == w[None, :], jnp.arange(T, dtype=jnp.int32)[:, None], T - 1),
                   axis=0)
    w = jnp.where(alive, w, neg)
    # pointer doubling: after k rounds, mw[v] = min weight over the 2^k edges back from v, and the
    # head of that edge is arg[v]
    mw, arg, nxt = w, jnp.arange(T, dtype=jnp.int32), pred
    for _ in range(max(1, int(np.ceil(np.log2(T))))):
        mw2, arg2 = mw[nxt], arg[nxt]
        take = mw2 < mw
        mw, arg, nxt = jnp.where(take, mw2, mw), jnp.where(take, arg2, arg), nxt[nxt]
    # nxt[v] lies on a cycle, and 2^k >= T edges back from it cover that whole cycle
    cyc = jnp.where(alive, mw[nxt], neg)
    v = jnp.argmax(cyc)
    s = arg[nxt[v]]
    return cyc[v], pred[s], s


def _peel_edge(W, floor):
    """(B, t, s) of one (T, T) matrix by peeling (module docstring), exact where B >= floor.

    Peeling starts at level max(lb, floor); when B < floor the lower bound lb is returned (the
    Pareto gap, max(B, 0), needs B only above 0, and consistent data then peel away at once).
    """
    T = W.shape[-1]
    two = jnp.minimum(W, W.T)
    # (the barrier keeps XLA from fusing the two maxima into one slow minor-axis reduction)
    colmax = jax.lax.optimization_barrier(jnp.max(two, axis=0))
    lb = jnp.max(colmax)
    b = jnp.argmax(colmax == lb).astype(jnp.int32)
    a = jnp.argmax(two[:, b] == lb).astype(jnp.int32)
    first = W[a, b] <= W[b, a]  # the 2-cycle's bottleneck edge
    t0, s0 = jnp.where(first, a, b), jnp.where(first, b, a)
    alive = _peel(W > jnp.maximum(lb, floor), jnp.ones(T, bool))

    def raise_level(carry):
        alive, _, _, _ = carry
        B, t, s = _functional_cycle(W, alive)
        return _peel(W > B, alive), B, t, s

    _, B, t, s = jax.lax.while_loop(lambda c: jnp.any(c[0]), raise_level, (alive, lb, t0, s0))
    return B, t, s


def _map(fn, flat, chunk):
    """fn vmapped over the leading axis of `flat`, in chunks of `chunk` on a CPU (cache-sized
    work and few wasted loop rounds: a vmapped while loop runs until its slowest element ends)."""
    n = flat.shape[0]
    if jax.default_backend() != "cpu" or chunk >= n:
        return jax.vmap(fn)(flat)
    pad = (-n) % chunk
    padded = jnp.concatenate([flat, jnp.zeros((pad,) + flat.shape[1:], flat.dtype)])
    out = jax.lax.map(jax.vmap(fn), padded.reshape((-1, chunk) + flat.shape[1:]))
    return jax.tree_util.tree_map(lambda x: x.reshape(-1)[:n], out)


def bottleneck_edge(W: Float[Array, "... T T"], floor=-np.inf):
    """(B, t, s) per matrix: the bottleneck B(W) and an edge (t, s) of an optimal cycle with
    W[..., t, s] = B. Any leading batch axes; the algorithm is chosen by T and the backend.

    With a finite `floor`, B is exact only where B >= floor (elsewhere a value <= floor is
    returned, and the edge is meaningless): enough for max(B, floor), and faster.
    """
    T = W.shape[-1]
    lead = W.shape[:-2]
    flat = W.reshape((-1, T, T))
    if T >= PEEL_T.get(jax.default_backend(), 24):
        floor = jnp.asarray(floor, W.dtype)
        B, t, s = _map(lambda w: _peel_edge(w, floor), flat, _PEEL_CHUNK)
    else:
        chunk = max(4, _CHUNK_BYTES // (T * T * W.dtype.itemsize))
        B, t, s = _map(_closure_edge, flat, chunk)
    return B.reshape(lead), t.reshape(lead), s.reshape(lead)


def bottleneck(W: Float[Array, "... T T"], *, with_closure: bool = False):
    """B(W) = max over cycles of the smallest weight, per (T, T) matrix (shape `W.shape[:-2]`).

    With `with_closure=True` returns `(B, C)` with C the (max, min) closure (O(T^3)); otherwise
    the fastest exact algorithm for this T is used. B is unclipped (negative when every cycle has
    a negative edge).
    """
    W = jnp.asarray(W)
    if with_closure:
        C = bottleneck_closure(W)
        return jnp.max(jnp.diagonal(C, axis1=-2, axis2=-1), axis=-1), C
    return bottleneck_edge(W)[0]
