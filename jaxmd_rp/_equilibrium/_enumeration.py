"""Exact solve of an affine KKT system by enumerating its active sets.

For games whose pseudo-gradient is affine in x and whose constraints are linear (the classic river
game, Cournot and public-goods games, two-player finite games), the KKT system is an affine mixed
complementarity problem z in [L, U] _|_ Phi(z) = Phi(s) + J (z - s). Each complementarity pair
has a finite set of states -- the coordinate strictly between its bounds (then Phi_j = 0), or at
its lower or its upper bound -- and for every combination (pattern) of states the linear system is
solved by unrolled LU factorisations. The feasible pattern with the smallest violation is kept.
Exact up to rounding, a bounded cost, and robust where Newton-type methods stall (degenerate
mechanisms with linear profits).

One system (no `vmap`) solves all its patterns in one batch: the fewest kernels, so the lowest
latency, and a fixed cost however degenerate the system. So do batches of fewer than
`COMPACT_MIN` = 4096 systems (their working memory is small, and this program compiles fastest).
Larger batches (every `vmap`, nested ones flattened into one batch) first let each element guess
its pattern by semismooth Newton (active-set) steps on the natural map, one pattern per step; a
guess whose solution is exact and strictly complementary (every pair at least sqrt(eps) (1 + |z|)
from switching) in a system with one solution at most (`_unique_solution`) is the only feasible
pattern and is kept. The elements without a certified guess (degenerate systems: a bound or
constraint active with a zero multiplier; systems that may have several solutions)
are gathered, 1/`COMPACT_PARTS` = 1/16 of the batch at a time, and solve all their patterns at
once -- the choice of the one-batch enumeration, with the same bits. The working memory is that
of one pattern per element plus all patterns for one part of the batch (river game: 0.029 instead
of 0.154 MiB per path of 30 solves), and where most guesses are certified the batch is several
times faster. `low_memory=True` takes this route at every batch size.

The number of patterns is prod_j (number of states of pair j): 2 per one-sided bound or
inequality multiplier, 3 per two-sided bound, 1 per free variable or equality multiplier. Up to
`CHUNK` patterns are solved in one batch; larger systems are enumerated chunk by chunk and stop at
the first chunk holding an exact solution. `max_size` caps the enumeration at 2^max_size patterns;
by default (None) it is chosen automatically as `AUTO_MAX_SIZE` = 16 (65,536 linear solves).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap

from .._linalg import UNROLL_MAX, lu_solve_rows, lu_solve_small, positive_definite_small
from .._solution import RESULTS
from ._kkt import BOTH, FREE, LOWER, UPPER
from ._newton import AbstractEquilibriumSolver, SemismoothNewton

AUTO_MAX_SIZE = 16
CHUNK = 1024
GUESS_STEPS = 8
COMPACT_MIN = 4096  # smaller batches: every element's patterns at once (at most ~21 MiB for the
#                    river game, and the shortest compile)
COMPACT_PARTS = 16  # larger ones: the uncertified elements 1/16 of the batch at a time


def _patterns(idx, radix, stride):
    """Digits (states) of the pattern indices `idx` (P,) in the mixed radix: (P, N) ints."""
    return (idx[:, None] // stride[None, :]) % radix[None, :]


def _candidates(lower, upper, idx, s, F0, J, radix, stride, kinds, lower_only):
    """(ds, violation, Phi) of the linear system of every pattern in `idx` (z = s + ds);
    `lower_only` (static): every pair has a lower bound only (the common case, with fewer
    temporaries)."""
    N = s.shape[0]
    dtype = s.dtype
    digit = _patterns(idx, radix, stride)
    fixed = digit > 0
    eye = np.eye(N)
    if lower_only:
        value = lower[None]
    else:
        at_upper = ((kinds == UPPER) & (digit == 1)) | (digit == 2)
        value = jnp.where(at_upper, upper[None], lower[None])  # the bound of a fixed pair
    b = jnp.where(fixed, jnp.where(fixed, value, 0.0) - s[None], -F0[None])
    # row i of pattern p: the unit row e_i where pair i is fixed, else row i of J. For the
    # patterns known at compile time (all at once, outside any loop) the entries are built one by
    # one and the pivots chosen elementwise: the (patterns, N, N) matrices are never materialised
    # (half the memory) and the elimination fuses into fewer kernels. Inside the loops of the
    # other routes (one traced pattern at a time) that form measured 20-30 % slower than the
    # small matrix and an argmax pivot, which they keep.
    if N <= UNROLL_MAX and isinstance(fixed, np.ndarray):
        rows = [[jnp.where(fixed[:, i], jnp.asarray(eye[i, j], dtype), J[i, j]) for j in range(N)]
                + [b[:, i]] for i in range(N)]
        ds, ok = lu_solve_rows(rows, fused_pivot=True)  # not inside a loop
    else:
        ds, ok = lu_solve_small(jnp.where(fixed[:, :, None], jnp.asarray(eye, dtype)[None],
                                          J[None]), b)
    ds = jnp.where(fixed, b, ds)  # exact bound values on the fixed pairs
    Fs = F0[None]  # Phi = F0 + J ds, summed in a fixed order (the same bits whatever the batch)
    for j in range(N):
        Fs = Fs + ds[:, j, None] * J[None, :, j]
    zs = s[None] + ds  # (fused into the reductions below; only the best z is materialised)
    scale = 1.0 + jnp.max(jnp.abs(zs), axis=1)
    neg_F = jnp.maximum(-Fs, 0.0)
    if lower_only:
        box = jnp.maximum(lower[None] - zs, 0.0)
        sign = neg_F
    else:
        box = jnp.maximum(jnp.maximum(lower[None] - zs, zs - upper[None]), 0.0)
        pos_F = jnp.maximum(Fs, 0.0)
        both = jnp.where(at_upper, pos_F, jnp.where(fixed, neg_F, 0.0))
        sign = jnp.where(kinds == FREE, 0.0, jnp.where(
            kinds == UPPER, pos_F, jnp.where(kinds == BOTH, both, neg_F)))
    viol = jnp.maximum(jnp.max(box, axis=1), jnp.max(sign, axis=1))
    # a NaN in J or F0 can leave z finite but Phi not: no feasible pattern either (inf, not NaN,
    # which argmin would prefer)
    viol = jnp.where(ok & jnp.all(jnp.isfinite(zs), axis=1) & ~jnp.isnan(viol), viol / scale,
                     jnp.inf)
    return ds, viol, Fs


def _exact(dtype):
    """The violation of a pattern solved exactly up to rounding."""
    return 64 * jnp.finfo(dtype).eps


def _all_at_once(count, lower, upper, s, F0, J, *static):
    """(ds, violation) of the best pattern, every pattern solved in one batch (the fastest for one
    system: a single vectorised elimination)."""
    ds, viol, _ = _candidates(lower, upper, np.arange(count), s, F0, J, *static)
    best = jnp.argmin(viol)
    return ds[best], viol[best]


def _each_all_at_once(count, args, static):
    """`_all_at_once` for every element of a flat batch (B leading axis)."""
    return jax.vmap(lambda *a: _all_at_once(count, *a, *static))(*args)


def _next_pattern(lower, upper, z, P, radix, stride, kinds):
    """The pattern of the semismooth Newton step on the natural map median(z - L, Phi, z - U)
    at (z, Phi): a pair goes to its lower bound where Phi > z - L, to its upper bound where
    Phi < z - U, and is free otherwise (Hintermueller, Ito & Kunisch 2002)."""
    to_lower = (kinds == LOWER) | (kinds == BOTH)
    to_lower = to_lower & (P > z - jnp.where(to_lower, lower, 0.0))
    has_u = (kinds == UPPER) | (kinds == BOTH)
    to_upper = has_u & ~to_lower & (P < z - jnp.where(has_u, upper, 0.0))
    digit = jnp.where(to_lower, 1, jnp.where(to_upper, jnp.where(kinds == BOTH, 2, 1), 0))
    dtype = jax.dtypes.canonicalize_dtype(stride.dtype)  # int32 without x64: no warning
    return jnp.sum(digit.astype(dtype) * stride)


def _strictly_complementary(lower, upper, idx, ds, P, s, radix, stride, kinds):
    """Whether the pattern's solution keeps every pair away from its switching point by a margin
    sqrt(eps) (1 + |z|_inf) (so no other pattern is feasible up to rounding)."""
    z = s + ds
    margin = jnp.sqrt(jnp.finfo(z.dtype).eps) * (1.0 + jnp.max(jnp.abs(z)))
    digit = _patterns(idx[None], radix, stride)[0]
    at_upper = ((kinds == UPPER) & (digit == 1)) | (digit == 2)
    has_l = (kinds == LOWER) | (kinds == BOTH)
    has_u = (kinds == UPPER) | (kinds == BOTH)
    inside = ((~has_l | (z - jnp.where(has_l, lower, 0.0) > margin))
              & (~has_u | (jnp.where(has_u, upper, 0.0) - z > margin)))
    ok = jnp.where(digit == 0, inside, jnp.where(at_upper, P < -margin, P > margin))
    return jnp.all(ok | (kinds == FREE))


def _unique_solution(J, n):
    """Whether the affine system with Jacobian J (N, N), n primal coordinates first, has one
    primal solution at most: its multipliers enter as in the KKT system of a variational
    inequality (the symmetric part of J vanishes outside the primal block) and the primal block
    is strictly monotone (the symmetric part positive definite), each with the margin
    sqrt(eps) (1 + max |J|). Games with several equilibria (strategic complements), weighted
    (normalized) or player-owned coupled multipliers fail it."""
    S = 0.5 * (J + J.T)
    tol = jnp.sqrt(jnp.finfo(J.dtype).eps) * (1.0 + jnp.max(jnp.abs(J)))
    vi = jnp.all(jnp.abs(S[:, n:]) <= tol)
    return vi & positive_definite_small(S[:n, :n], tol)


def _guess(steps, limit, n, args, static):
    """(ds, violation, certified) of every element's guessed pattern in a flat batch (B leading
    axis): active-set (semismooth Newton) steps on the natural map, one pattern per element and
    step. An element stops at a certified guess -- exact and strictly complementary in a system
    with one solution at most (`_unique_solution`; then no other pattern is feasible) -- or when
    its guess repeats; the batch stops after `steps` steps (at least one), or once at most `limit`
    elements are still guessing (they are enumerated instead)."""
    lower, upper, s, F0, J = args
    radix, stride, kinds, _ = static
    exact = _exact(s.dtype)

    def step(idx, lower, upper, s, F0, J):
        ds, viol, P = _candidates(lower, upper, idx[None], s, F0, J, *static)
        ds, viol, P = ds[0], viol[0], P[0]
        certified = (viol <= exact) & _strictly_complementary(lower, upper, idx, ds, P, s, radix,
                                                              stride, kinds)
        return ds, viol, certified, _next_pattern(lower, upper, s + ds, P, radix, stride, kinds)

    unique = jax.vmap(lambda J: _unique_solution(J, n))(J)

    def body(carry):
        i, idx, ds_b, v_b, certified_b, guessing = carry
        ds, viol, certified, nxt = jax.vmap(step)(idx, *args)
        certified = certified & unique
        ds_b = jnp.where(guessing[:, None], ds, ds_b)
        v_b = jnp.where(guessing, viol, v_b)
        certified_b = jnp.where(guessing, certified, certified_b)
        guessing = guessing & ~certified & (nxt != idx)
        return i + 1, jnp.where(guessing, nxt, idx), ds_b, v_b, certified_b, guessing

    def cond(carry):
        i, *_, guessing = carry
        return (i == 0) | ((i < steps) & (jnp.sum(guessing, dtype=jnp.int32) > limit))

    idx0 = jax.vmap(lambda *a: _next_pattern(*a, radix, stride, kinds))(lower, upper, s, F0)
    B = s.shape[0]
    init = (jnp.zeros((), jnp.int32), idx0, jnp.zeros_like(s), jnp.full((B,), jnp.inf, s.dtype),
            jnp.zeros((B,), bool), jnp.ones((B,), bool))
    _, _, ds, viol, certified, _ = jax.lax.while_loop(cond, body, init)
    return ds, viol, certified


def _compacted(count, todo, chunk, args, static):
    """(ds, violation) of `_all_at_once` for the batch elements `todo` (B,), gathered `chunk` at a
    time (the working memory of all patterns for `chunk` elements, not for the whole batch); the
    other elements get (0, inf). Runs only as many chunks as there are elements to do."""
    B = todo.shape[0]
    order = jnp.argsort(~todo, stable=True)  # the elements to do first, in batch order
    n_todo = jnp.sum(todo, dtype=jnp.int32)

    def body(carry):
        k, ds_b, v_b = carry
        start = jnp.minimum(k * chunk, B - chunk)
        sel = jax.lax.dynamic_slice(order, (start,), (chunk,))
        sub = [a[sel] for a in args]
        ds, viol = _each_all_at_once(count, sub, static)
        use = (start + jnp.arange(chunk, dtype=jnp.int32)) < n_todo
        return (k + 1, ds_b.at[sel].set(jnp.where(use[:, None], ds, ds_b[sel])),
                v_b.at[sel].set(jnp.where(use, viol, v_b[sel])))

    s = args[2]
    init = (jnp.zeros((), jnp.int32), jnp.zeros_like(s), jnp.full((B,), jnp.inf, s.dtype))
    _, ds, viol = jax.lax.while_loop(lambda c: c[0] * chunk < n_todo, body, init)
    return ds, viol


def _flat_batch(count, steps, low_memory, n, args, static):
    """(ds, violation) of the best pattern of every system in a flat batch (B leading axis).
    Batches under `COMPACT_MIN` (unless `low_memory`): all patterns of every element at once.
    Otherwise every element first guesses its pattern (`_guess`), and the uncertified ones are
    enumerated all at once, gathered `ceil(B / COMPACT_PARTS)` at a time (`_compacted`). Both
    routes keep `_all_at_once`'s choice, bit for bit."""
    B = args[2].shape[0]
    if B < COMPACT_MIN and not low_memory:
        return _each_all_at_once(count, args, static)
    chunk = -(-B // COMPACT_PARTS)
    ds_g, v_g, certified = _guess(steps, chunk, n, args, static)
    ds, viol = _compacted(count, ~certified, chunk, args, static)
    return jnp.where(certified[:, None], ds_g, ds), jnp.where(certified, v_g, viol)


def _best_pattern(count, steps, low_memory, n, lower, upper, s, F0, J, *static):
    """(ds, violation) of the best pattern: all patterns at once for one system; under `vmap`
    (nested or not: the batch axes are flattened into one) `_flat_batch`, which picks the same
    pattern with less memory."""
    return _batched(0, count, steps, low_memory, n, static)(lower, upper, s, F0, J)


def _batched(ndim, count, steps, low_memory, n, static):
    """`_best_pattern` on arguments with `ndim` leading batch axes; each further `vmap` adds one."""

    @custom_vmap
    def best(*args):
        if ndim == 0:
            return _all_at_once(count, *args, *static)
        shape = args[2].shape[:ndim]
        flat = [a.reshape(-1, *a.shape[ndim:]) for a in args]
        ds, viol = _flat_batch(count, steps, low_memory, n, flat, static)
        return ds.reshape(*shape, ds.shape[-1]), viol.reshape(shape)

    @best.def_vmap
    def _rule(axis_size, in_batched, *args):
        args = [a if b else jnp.broadcast_to(a, (axis_size, *a.shape))
                for a, b in zip(args, in_batched, strict=True)]
        return _batched(ndim + 1, count, steps, low_memory, n, static)(*args), (True, True)

    return best


class ActiveSetEnumeration(AbstractEquilibriumSolver):
    """Exact solve of an *affine* KKT system by enumerating its active sets (module docstring).

    The true KKT residual is checked at the result: if it exceeds `tol` (the game is not affine,
    or no pattern was feasible) the result is `RESULTS.enumeration_failed` (or, when the
    constraints are violated there, `RESULTS.primal_infeasible`); with `polish=SemismoothNewton()`
    Newton continues from the best pattern instead.

    **Arguments:**

    - `max_size`: enumerate at most 2^max_size patterns (None: `AUTO_MAX_SIZE` = 16); a larger
      system raises a `ValueError` at trace time that names `max_size`.
    - `polish`: an optional `SemismoothNewton()` run from the best pattern when it is not exact.
    - `low_memory`: take the guess-and-gather route of large batches (module docstring) under
      every `vmap`, however small the batch; by default batches of fewer than `COMPACT_MIN` =
      4096 systems solve every element's patterns at once (at most about 21 MiB for the river
      game, and a shorter compile). The solutions are bit for bit the same either way.
    """

    max_size: int | None = eqx.field(static=True, default=None)
    polish: SemismoothNewton | None = None
    low_memory: bool = eqx.field(static=True, default=False)

    def _check_size(self, kinds):
        radix = np.array([1 if k == FREE else 3 if k == BOTH else 2 for k in kinds], dtype=np.int64)
        count = math.prod(int(r) for r in radix)
        limit = AUTO_MAX_SIZE if self.max_size is None else self.max_size
        if count > 2**limit:
            how = "chosen automatically" if self.max_size is None else "as set"
            pairs = int(np.sum(radix > 1))
            raise ValueError(
                f"ActiveSetEnumeration: this KKT system has {pairs} complementarity pairs and "
                f"{count} active-set patterns, more than 2^max_size = 2^{limit} (max_size = {limit}, "
                f"{how}). Pass ActiveSetEnumeration(max_size=...) to enumerate more, or use "
                f"SemismoothNewton().")
        return radix, count

    def solve(self, game, theta, probe, kkt, z0, tol, max_steps):
        if kkt.kinds is None:
            raise ValueError(
                "ActiveSetEnumeration needs action bounds whose finiteness is known at trace time; "
                "`lower`/`upper` of this game depend on traced values. Use SemismoothNewton().")
        kinds = np.asarray(kkt.kinds)
        radix, count = self._check_size(kinds)
        stride = np.concatenate([[1], np.cumprod(radix)[:-1]]).astype(np.int64)
        s = jnp.clip(jnp.zeros_like(z0), kkt.lower, kkt.upper)  # linearisation point
        F0 = kkt.phi(s)
        J = jax.jacfwd(kkt.phi)(s)
        static = (radix, stride, kinds, bool(np.all(kinds == LOWER)))  # numpy: constants
        if count <= CHUNK:
            ds, v_best = _best_pattern(count, GUESS_STEPS, self.low_memory, kkt.n, kkt.lower,
                                       kkt.upper, s, F0, J, *static)
            z_best, steps = s + ds, jnp.array(0)
        else:
            z_best, v_best, steps = self._chunked(kkt, z0, count, (s, F0, J, *static))
        z = jnp.where(jnp.isfinite(v_best), jnp.clip(z_best, kkt.lower, kkt.upper), z0)
        res = kkt.natural_residual(z)
        if self.polish is None:
            result = RESULTS.where(res <= tol, RESULTS.successful, RESULTS.enumeration_failed)
            return z, result, res, steps

        def polish(z):
            return self.polish.solve(game, theta, probe, kkt, z, tol, max_steps)

        def done(z):
            return z, RESULTS.successful, res, steps

        return jax.lax.cond(res <= tol, done, polish, z)

    @staticmethod
    def _chunked(kkt, z0, count, args):
        """Enumerate in chunks of `CHUNK` patterns until one is exact (up to rounding)."""
        exact = _exact(z0.dtype)
        chunks = -(-count // CHUNK)

        def cond(carry):
            c, _, v = carry
            return (c < chunks) & (v > exact)

        def body(carry):
            c, z_b, v_b = carry
            idx = c * CHUNK + jnp.arange(CHUNK)
            ds, viol, _ = _candidates(kkt.lower, kkt.upper, jnp.minimum(idx, count - 1), *args)
            viol = jnp.where(idx < count, viol, jnp.inf)
            best = jnp.argmin(viol)
            better = viol[best] < v_b
            z = args[0] + ds[best]
            return c + 1, jnp.where(better, z, z_b), jnp.where(better, viol[best], v_b)

        init = (jnp.array(0), z0, jnp.asarray(jnp.inf, z0.dtype))
        steps, z, v = jax.lax.while_loop(cond, body, init)
        return z, v, steps
