r"""Bottleneck cycles of weighted digraphs: the combinatorial core of the Pareto gap.

For a square weight matrix W (T nodes, self-loops included) the *bottleneck* is

    B(W) = max over directed cycles (self-loops and 2-cycles included) of the smallest weight on it,

the largest r such that the graph {W >= r} has a cycle. Everything here is a max-min of entries of
W (no arithmetic), so B is exact in any float dtype, and an edge (t, s) of an optimal cycle with
W[t, s] = B is returned alongside it (the gradient of the Pareto gap lives on that edge). For a
*group* of M matrices (the agents of one data set) the best of them, max_i B(W_i), is found
jointly, with the index of the matrix that attains it.

Two exact algorithms, chosen by T, the batch size and the backend (`use_peeling`; crossovers
measured with `benchmarks/pareto_gap.py`):

- **closure** (small T): Floyd-Warshall in the (max, min) semiring, C[t, s] = max over paths
  t -> s of the smallest weight; B = max_t C[t, t]. O(T^3), unrolled into straight-line fused
  kernels.
- **peeling** (larger T), O(T^2) per level and typically one level:
  1. a lower bound lb from the best 2-cycle or self-loop of the group, max of min(W, W^T) (an
     actual cycle);
  2. at level l = lb, remove nodes without an in- or an out-edge above l among the remaining ones,
     until nothing changes. Every cycle with bottleneck above l survives (each of its nodes keeps
     its cycle edges), so if nothing survives, the group's best is lb exactly. The graph {W > l}
     is stored as bit sets (the in-edges of each node, 8 nodes a byte), so a removal round costs
     O(T^2 / 8) byte operations and the only O(T^2) work per level is building the bit sets;
  3. otherwise every surviving node has an out-edge above l to a survivor: following each node's
     best such edge (a functional graph) leads into cycles whose edges all lie above l; the best
     of them (found for all nodes at once by pointer doubling) is an actual cycle with bottleneck
     lb' > l. Set l = lb' and peel again from the survivors. l strictly increases, so this ends,
     with the best bottleneck l and the bottleneck edge of the last cycle found.

Peeling the M matrices of a group at one shared level discards every matrix whose cycles cannot
beat the group's best at once. On revealed-preference data the 2-cycle bound is usually already
exact, so the cost is a few passes over W instead of T.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

_UNROLL_T = 64  # unroll Floyd-Warshall up to this T (straight-line fused kernels)
_CHUNK_BYTES = 2**19  # CPU, closure: groups per chunk of about this size (cache-resident)
_PEEL_CHUNK = (4, 2**16)  # CPU, peeling: at most 4 groups a chunk, one above 64 KiB (measured:
# a vmapped while loop runs until its slowest element ends, so small chunks waste less)
_WORD = 8  # nodes per bit-set word (uint8: packing vectorises over bytes, several times faster
# on a CPU than 32-bit words)
PEEL_T = {"cpu": 9, "gpu": 24, "tpu": 24}
"""Smallest T at which peeling replaces the closure, per backend, for a batch of groups
(see `benchmarks/pareto_gap.py`)."""
PEEL_T_ONE = 24
"""The same for a single group: peeling's loops cost a fixed few tens of microseconds a call that
a batch amortises and one call does not (measured on a CPU: the closure is faster up to T ~ 24)."""


def use_peeling(T: int, n: int) -> bool:
    """Whether `n` groups of T nodes are solved by peeling (else by the closure)."""
    return T >= (PEEL_T.get(jax.default_backend(), 24) if n > 1 else PEEL_T_ONE)


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


def _closure_group(W):
    """(B, i, t, s) of one (M, T, T) group by the closure: matrix i attains the group's best B."""
    M, T, _ = W.shape
    C = bottleneck_closure(W)
    Bm = jnp.max(jnp.diagonal(C, axis1=-2, axis2=-1), axis=-1)  # (M,)
    i = jnp.argmax(Bm).astype(jnp.int32)
    B, Wi, Ci = jnp.where(jnp.all(jnp.isfinite(W)), Bm[i], jnp.nan), W[i], C[i]
    # (t, s) lies on an optimal cycle iff W[t, s] >= B and s reaches t at level B (or s = t)
    on_cycle = (Wi == B) & ((Ci.T >= B) | jnp.eye(T, dtype=bool))
    k = jnp.argmax(on_cycle.reshape(-1)).astype(jnp.int32)
    return B, i, k // T, k % T


# Peeling. XLA's CPU reductions over the minor axis are scalar loops, several times slower than
# over the major one, so the O(T^2) reductions below run over a major axis.


def _pack(b):
    """Bit sets along axis -2: bool (..., T, N) -> uint8 (..., ceil(T / 8), N), bit j of word w in
    column n is b[..., 8 w + j, n]."""
    T = b.shape[-2]
    nw = -(-T // _WORD)
    if nw * _WORD != T:
        b = jnp.pad(b, [(0, 0)] * (b.ndim - 2) + [(0, nw * _WORD - T), (0, 0)])
    b = b.reshape(b.shape[:-2] + (nw, _WORD, b.shape[-1])).astype(jnp.uint8)
    shift = jnp.arange(_WORD, dtype=jnp.uint8)[:, None]
    return jnp.sum(b << shift, axis=-2, dtype=jnp.uint8)


def _unpack(words, T):
    """Inverse of `_pack` for one column: uint8 (..., nw) -> bool (..., T)."""
    shift = jnp.arange(_WORD, dtype=jnp.uint8)
    bits = (words[..., :, None] >> shift) & jnp.uint8(1)
    return bits.reshape(words.shape[:-1] + (-1,))[..., :T] != 0


def _peel(into, alive):
    """Iteratively drop nodes without an in- or an out-edge among the alive ones ((M, T) mask).

    `into` (M, nw, T) holds the graphs as bit sets: bit t of into[i, :, s] is the edge t -> s.
    A round costs O(T^2 / 8) byte operations: in-edges of s from alive nodes are the bits of
    column s under the alive mask, and the nodes with an out-edge to an alive node are the bits
    of the union of the alive columns.
    """
    T = alive.shape[-1]
    zero = jnp.zeros((), jnp.uint8)

    def body(carry):
        alive, _ = carry
        inn = jnp.any((into & _pack(alive[..., None])) != 0, axis=-2)  # an edge from an alive node
        cols = jnp.where(alive[..., None, :], into, zero)
        out = _unpack(jax.lax.reduce(cols, zero, jax.lax.bitwise_or, (cols.ndim - 1,)), T)
        new = alive & inn & out  # ... and an edge to an alive node
        return new, jnp.any(new != alive)

    return jax.lax.while_loop(lambda c: c[1], body, (alive, jnp.array(True)))[0]


def _functional_cycle(W, alive):
    """Best cycle of "each alive node <- its best alive in-neighbour": (B, t, s).

    Needs every alive node to have an alive in-neighbour (true after peeling); following the
    in-neighbours backwards from any node reaches a cycle of the graph. B = -inf without alive
    nodes.
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


def _best_two_cycle(W):
    """(lb, i, t, s): the group's best 2-cycle or self-loop and its bottleneck edge (t, s) in W[i];
    lb is NaN if the group has a NaN or infinite entry (checked in the same pass)."""
    M, T, _ = W.shape
    # + (W - W): +0 where W is finite, NaN elsewhere (cheaper on a CPU than a select); it turns
    # -0 into +0, which compares equal, and lb itself is read back from W below
    two = jnp.minimum(W, jnp.swapaxes(W, -1, -2)) + (W - W)
    # (the barrier keeps XLA from fusing the two maxima into one slow minor-axis reduction)
    colmax = jax.lax.optimization_barrier(jnp.max(two, axis=-2))  # (M, T)
    lb = jnp.max(colmax)
    k = jnp.argmax(colmax.reshape(-1) == lb).astype(jnp.int32)
    i, b = k // T, k % T
    a = jnp.argmax(two[i, :, b] == lb).astype(jnp.int32)
    first = W[i, a, b] <= W[i, b, a]  # the 2-cycle's bottleneck edge
    t, s = jnp.where(first, a, b), jnp.where(first, b, a)
    return jnp.where(jnp.isnan(lb), lb, W[i, t, s]), i, t, s


def _peel_group(W, floor):
    """(B, i, t, s) of one (M, T, T) group by peeling (module docstring), exact where B >= floor.

    Peeling starts at level max(lb, floor); when the group's best is below `floor`, the lower
    bound lb is returned (the Pareto gap, max(B, 0), needs B only above 0, and consistent data
    then peel away at once).
    """
    M, T, _ = W.shape
    lb, i0, t0, s0 = _best_two_cycle(W)
    alive = _peel(_pack(W > jnp.maximum(lb, floor)), jnp.ones((M, T), bool))

    def raise_level(carry):
        alive = carry[0]
        Bm, t, s = jax.vmap(_functional_cycle)(W, alive)  # (M,): -inf where nothing is alive
        i = jnp.argmax(Bm).astype(jnp.int32)
        B = Bm[i]
        return _peel(_pack(W > B), alive), B, i, t[i], s[i]

    init = (alive, lb, i0, t0, s0)
    _, B, i, t, s = jax.lax.while_loop(lambda c: jnp.any(c[0]), raise_level, init)
    return B, i, t, s


def solve_group(W: Float[Array, "M T T"], floor=-np.inf, *, peel: bool):
    """(B, i, t, s) of one group of M matrices (see `bottleneck_group_edge`) by peeling or by the
    closure (`use_peeling`). B is NaN if the group has a NaN or infinite entry."""
    if peel:
        return _peel_group(W, jnp.asarray(floor, W.dtype))
    return _closure_group(W)


def _chunk(group_shape, dtype, peel: bool) -> int:
    """Groups per chunk on a CPU for this group shape (M, T, T)."""
    size = int(np.prod(group_shape)) * np.dtype(dtype).itemsize
    if peel:
        return _PEEL_CHUNK[0] if size * _PEEL_CHUNK[0] <= _PEEL_CHUNK[1] else (
            2 if 2 * size <= _PEEL_CHUNK[1] else 1)
    return max(4, _CHUNK_BYTES // size)


def map_groups(fn, flat):
    """`fn(group, peel)` vmapped over the leading axis of `flat` (groups of shape (M, T, T)), with
    `peel` from `use_peeling`. On a CPU it runs in small chunks read in place (cache-resident work,
    and few wasted loop rounds: a vmapped while loop runs until its slowest element ends); the
    last chunk overlaps the one before it instead of padding a copy of the input."""
    n = flat.shape[0]
    peel = use_peeling(flat.shape[-1], n)
    fn = functools.partial(fn, peel=peel)
    chunk = _chunk(flat.shape[1:], flat.dtype, peel)
    if jax.default_backend() != "cpu" or chunk >= n:
        return jax.vmap(fn)(flat)

    def body(k, out):
        start = jnp.minimum(k * chunk, n - chunk)
        res = jax.vmap(fn)(jax.lax.dynamic_slice_in_dim(flat, start, chunk))
        return jax.tree_util.tree_map(
            lambda o, r: jax.lax.dynamic_update_slice_in_dim(o, r, start, 0), out, res)

    shapes = jax.eval_shape(jax.vmap(fn), flat[:chunk])
    out = jax.tree_util.tree_map(lambda x: jnp.zeros((n,) + x.shape[1:], x.dtype), shapes)
    return jax.lax.fori_loop(0, -(-n // chunk), body, out)


def bottleneck_group_edge(W: Float[Array, "... M T T"], floor=-np.inf):
    """(B, i, t, s) per group of M matrices: the group's best bottleneck B = max_i B(W[..., i, :, :]),
    the matrix i attaining it and an edge (t, s) of an optimal cycle of W[..., i, :, :] with weight
    B. Any leading batch axes; the algorithm is chosen by T, the batch size and the backend
    (`use_peeling`).

    With a finite `floor`, B is exact only where B >= floor (elsewhere a value <= floor is
    returned, and the edge is meaningless): enough for max(B, floor), and faster. B is NaN where
    a group has a NaN or infinite entry (missing edges are not expressible as -inf here).
    """
    lead = W.shape[:-3]
    out = map_groups(lambda w, peel: solve_group(w, floor, peel=peel),
                     W.reshape((-1,) + W.shape[-3:]))
    return tuple(x.reshape(lead) for x in out)


def bottleneck_edge(W: Float[Array, "... T T"], floor=-np.inf):
    """(B, t, s) per matrix: the bottleneck B(W) and an edge (t, s) of an optimal cycle with
    W[..., t, s] = B (`bottleneck_group_edge` with groups of one matrix)."""
    B, _, t, s = bottleneck_group_edge(W[..., None, :, :], floor)
    return B, t, s


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
