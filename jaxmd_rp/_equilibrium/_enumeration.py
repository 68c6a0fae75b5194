"""Exact solve of an affine KKT system by enumerating its active sets.

For games whose pseudo-gradient is affine in x and whose constraints are linear (the classic river
game, Cournot and public-goods games, two-player finite games), the KKT system is an affine mixed
complementarity problem z in [L, U] _|_ Phi(z) = Phi(s) + J (z - s). Each complementarity pair
has a finite set of states -- the coordinate strictly between its bounds (then Phi_j = 0), or at
its lower or its upper bound -- and for every combination (pattern) of states the linear system is
solved by unrolled LU factorisations, all patterns at once. The feasible pattern with the smallest
violation is kept. Exact up to rounding, a fixed cost, no iteration, and robust where Newton-type
methods stall (degenerate mechanisms with linear profits).

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

from .._linalg import lu_solve_small
from .._solution import RESULTS
from ._kkt import BOTH, FREE, LOWER, UPPER
from ._newton import AbstractEquilibriumSolver, SemismoothNewton

AUTO_MAX_SIZE = 16
CHUNK = 1024


def _patterns(idx, radix, stride):
    """Digits (states) of the pattern indices `idx` (P,) in the mixed radix: (P, N) ints."""
    return (idx[:, None] // stride[None, :]) % radix[None, :]


def _candidates(kkt, idx, s, F0, J, radix, stride, kinds, lower_only):
    """(z, violation) of the linear system of every pattern in `idx`; `lower_only` (static):
    every pair has a lower bound only (the common case, with fewer temporaries)."""
    N = s.shape[0]
    dtype = s.dtype
    digit = _patterns(idx, radix, stride)
    fixed = digit > 0
    eye = jnp.eye(N, dtype=dtype)
    A = jnp.where(fixed[:, :, None], eye[None], J[None])
    if lower_only:
        value = kkt.lower[None]
    else:
        at_upper = ((kinds == UPPER) & (digit == 1)) | (digit == 2)
        value = jnp.where(at_upper, kkt.upper[None], kkt.lower[None])  # the bound of a fixed pair
    b = jnp.where(fixed, jnp.where(fixed, value, 0.0) - s[None], -F0[None])
    ds, ok = lu_solve_small(A, b)
    ds = jnp.where(fixed, b, ds)  # exact bound values on the fixed pairs
    Fs = ds @ J.T + F0
    zs = s[None] + ds  # (fused into the reductions below; only the best z is materialised)
    scale = 1.0 + jnp.max(jnp.abs(zs), axis=1)
    neg_F = jnp.maximum(-Fs, 0.0)
    if lower_only:
        box = jnp.maximum(kkt.lower[None] - zs, 0.0)
        sign = neg_F
    else:
        box = jnp.maximum(jnp.maximum(kkt.lower[None] - zs, zs - kkt.upper[None]), 0.0)
        pos_F = jnp.maximum(Fs, 0.0)
        both = jnp.where(at_upper, pos_F, jnp.where(fixed, neg_F, 0.0))
        sign = jnp.where(kinds == FREE, 0.0, jnp.where(
            kinds == UPPER, pos_F, jnp.where(kinds == BOTH, both, neg_F)))
    viol = jnp.maximum(jnp.max(box, axis=1), jnp.max(sign, axis=1))
    viol = jnp.where(ok & jnp.all(jnp.isfinite(zs), axis=1), viol / scale, jnp.inf)
    return ds, viol


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
    """

    max_size: int | None = eqx.field(static=True, default=None)
    polish: SemismoothNewton | None = None

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
        args = (s, F0, J, jnp.asarray(radix), jnp.asarray(stride), jnp.asarray(kinds),
                bool(np.all(kinds == LOWER)))
        if count <= CHUNK:
            ds, viol = _candidates(kkt, jnp.arange(count), *args)
            best = jnp.argmin(viol)
            z_best, v_best, steps = s + ds[best], viol[best], jnp.array(0)
        else:
            z_best, v_best, steps = self._chunked(kkt, z0, count, args)
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
        exact = 64 * jnp.finfo(z0.dtype).eps
        chunks = -(-count // CHUNK)

        def cond(carry):
            c, _, v = carry
            return (c < chunks) & (v > exact)

        def body(carry):
            c, z_b, v_b = carry
            idx = c * CHUNK + jnp.arange(CHUNK)
            ds, viol = _candidates(kkt, jnp.minimum(idx, count - 1), *args)
            viol = jnp.where(idx < count, viol, jnp.inf)
            best = jnp.argmin(viol)
            better = viol[best] < v_b
            z = args[0] + ds[best]
            return c + 1, jnp.where(better, z, z_b), jnp.where(better, viol[best], v_b)

        init = (jnp.array(0), z0, jnp.asarray(jnp.inf, z0.dtype))
        steps, z, v = jax.lax.while_loop(cond, body, init)
        return z, v, steps
