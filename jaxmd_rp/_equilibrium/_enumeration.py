"""Exact solve of an affine KKT system by enumerating its active sets.

For games whose pseudo-gradient is affine in x and whose constraints are linear (the classic river
game, Cournot and public-goods games, two-player finite games), the KKT system is an affine mixed
complementarity problem z in [L, U] _|_ Phi(z) = Phi(s) + J (z - s). Each complementarity pair
has a finite set of states -- the coordinate strictly between its bounds (then Phi_j = 0), or at
its lower or its upper bound -- and for every combination (pattern) of states the linear system is
solved by unrolled LU factorisations. The feasible pattern with the smallest violation is kept.
Exact up to rounding, a bounded cost, and robust where Newton-type methods stall (degenerate
mechanisms with linear profits).

By default every system solves all its patterns in one batch: the fewest kernels, so the lowest
latency, and a fixed cost however degenerate the system. With `low_memory=True`, under `vmap` each
element first guesses its pattern by semismooth Newton (active-set)
steps on the natural map, one pattern at a time; a guess whose solution is exact and strictly
complementary (every pair at least sqrt(eps) (1 + |z|) from switching) is the only feasible
pattern and is kept. Elements without a certified guess (degenerate systems: a bound or
constraint active with a zero multiplier, or several solutions) solve every pattern in turn and
keep the first with the smallest violation -- the choice of the one-batch enumeration, with the
same bits. The loop runs only while some element of the batch still needs it, and the working
memory per element is that of one pattern rather than all of them (about 1 KB for the river game
instead of 5 KB).

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

from .._linalg import UNROLL_MAX, lu_solve_rows, lu_solve_small
from .._solution import RESULTS
from ._kkt import BOTH, FREE, LOWER, UPPER
from ._newton import AbstractEquilibriumSolver, SemismoothNewton

AUTO_MAX_SIZE = 16
CHUNK = 1024
GUESS_STEPS = 8


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
    viol = jnp.where(ok & jnp.all(jnp.isfinite(zs), axis=1), viol / scale, jnp.inf)
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


def _next_pattern(lower, upper, z, P, radix, stride, kinds):
    """The pattern of the semismooth Newton step on the natural map median(z - L, Phi, z - U)
    at (z, Phi): a pair goes to its lower bound where Phi > z - L, to its upper bound where
    Phi < z - U, and is free otherwise (Hintermueller, Ito & Kunisch 2002)."""
    to_lower = (kinds == LOWER) | (kinds == BOTH)
    to_lower = to_lower & (P > z - jnp.where(to_lower, lower, 0.0))
    has_u = (kinds == UPPER) | (kinds == BOTH)
    to_upper = has_u & ~to_lower & (P < z - jnp.where(has_u, upper, 0.0))
    digit = jnp.where(to_lower, 1, jnp.where(to_upper, jnp.where(kinds == BOTH, 2, 1), 0))
    return jnp.sum(digit.astype(stride.dtype) * stride)


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


def _guess_then_scan(count, steps, lower, upper, s, F0, J, radix, stride, kinds, lower_only):
    """(ds, violation) of the best pattern for one system with little memory, one pattern solved
    per step of a single loop (one elimination in the compiled program). First up to `steps`
    active-set (semismooth Newton) steps guess the pattern; a guess that is exact and strictly
    complementary is the unique feasible pattern and is kept. Otherwise every pattern is solved
    in turn, keeping the first with the smallest violation (the choice of `_all_at_once`). Under
    `vmap` the loop runs only while some element still needs it."""
    exact = _exact(s.dtype)

    def body(carry):
        i, scanning, idx, ds_b, v_b, _ = carry
        ds, viol, P = _candidates(lower, upper, idx[None], s, F0, J, radix, stride, kinds,
                                  lower_only)
        ds, viol, P = ds[0], viol[0], P[0]
        certified = (viol <= exact) & _strictly_complementary(lower, upper, idx, ds, P, s, radix,
                                                              stride, kinds)
        nxt = _next_pattern(lower, upper, s + ds, P, radix, stride, kinds)
        start_scan = ~scanning & ~certified & ((i + 1 >= steps) | (nxt == idx))
        better = scanning & (viol < v_b)
        ds_b = jnp.where(start_scan, 0.0, jnp.where(scanning & ~better, ds_b, ds))
        v_b = jnp.where(start_scan, jnp.inf, jnp.where(scanning & ~better, v_b, viol))
        done = jnp.where(scanning, idx + 1 >= count, certified)
        idx = jnp.where(scanning, idx + 1, jnp.where(start_scan, 0, nxt))
        return i + 1, scanning | start_scan, idx, ds_b, v_b, done

    idx0 = _next_pattern(lower, upper, s, F0, radix, stride, kinds)
    init = (jnp.zeros((), stride.dtype), jnp.array(False), idx0, jnp.zeros_like(s),
            jnp.asarray(jnp.inf, s.dtype), jnp.array(False))
    _, _, _, ds, viol, _ = jax.lax.while_loop(lambda c: ~c[-1], body, init)
    return ds, viol


def _best_pattern(count, steps, low_memory, lower, upper, s, F0, J, *static):
    """(ds, violation) of the best pattern: all patterns at once for one system; with
    `low_memory`, the guess-then-scan for a batch (`vmap`), which picks the same pattern."""
    if not low_memory:
        return _all_at_once(count, lower, upper, s, F0, J, *static)

    @custom_vmap
    def best(lower, upper, s, F0, J):
        return _all_at_once(count, lower, upper, s, F0, J, *static)

    @best.def_vmap
    def _batched(axis_size, in_batched, *args):
        args = [a if b else jnp.broadcast_to(a, (axis_size, *a.shape))
                for a, b in zip(args, in_batched, strict=True)]
        out = jax.vmap(lambda *a: _guess_then_scan(count, steps, *a, *static))(*args)
        return out, (True, True)

    return best(lower, upper, s, F0, J)


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
    - `low_memory`: under `vmap`, guess each element's pattern and scan the patterns one at a time
      where the guess is not certified (module docstring): about 1/5 of the working memory per
      river path (0.03 instead of 0.15 MiB), and faster where most guesses are certified, but
      slower where many systems are degenerate (Figure 6's mechanisms on the faces of Theta: its
      study ran about 3x slower). The solutions are bit for bit those of the default.
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
            ds, v_best = _best_pattern(count, GUESS_STEPS, self.low_memory, kkt.lower, kkt.upper,
                                       s, F0, J, *static)
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
