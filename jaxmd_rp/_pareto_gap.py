r"""The Pareto gap (paper eqs. 10 and 13) by a bottleneck closure, with certificates.

**Input convention.** `values[..., i, t, s] = g_t^i(mu_s)`, shape (..., M, T, T): row i's
probe-t constraint evaluated at the strategy of experiment s (for an empirical mixed strategy, the
mean over its samples, eq. 13). See `jaxmd_rp.probe_values` and docs/pareto_gap.md.

**The result used.** The Pareto gap is

    L = inf { r >= 0 : exists u_t^i, lambda_t^i > 0 with
              u_s^i - u_t^i - lambda_t^i g_t^i(mu_s) <= lambda_t^i r  for all i, s, t }.

Put W_i[t, s] = -values[i, t, s] and a_ts = r - W_i[t, s]. For fixed r the system
u_s - u_t <= lambda_t a_ts (lambda > 0) is feasible iff the matrix a is *cyclically consistent*:
no cycle t_1 -> t_2 -> ... -> t_1 has all a <= 0 with one a < 0 (Afriat; Fostel, Scarf & Todd
2004). Summing the inequalities around such a cycle gives 0 <= sum lambda a < 0, so the condition
is necessary; `pareto_gap_certificate` below constructs (u, lambda) when it holds, so it is also
sufficient. Hence, with B_i = max over cycles of agent i's graph (self-loops included) of the
smallest edge weight W_i on the cycle (the "bottleneck"),

    L = max(0, max_i B_i),

and B_i = max_t C_i[t, t] where C_i is the (max, min) closure of W_i (Floyd-Warshall in the
(max, min) semiring). For r > L every cycle has an edge with a > 0 (feasible); for r < L the
bottleneck cycle has all a < 0 (infeasible). At r = L the system is feasible only if every
bottleneck cycle has all its edges equal to L, so the infimum is generally *not attained*.

L is a max-min of entries of `values` (no arithmetic), hence exact in any float dtype, piecewise
linear, and 1-Lipschitz in the sup norm: L = -values[i*, t*, s*] for the bottleneck edge of the
optimal cycle. Its gradient is minus the indicator of that edge (when L > 0); it is not
differentiable where two cycles tie for the maximum or where the optimal cycle's bottleneck is
attained on two edges. `jax.grad(pareto_gap)` returns an element of the Clarke subdifferential.
"""

import functools
import logging

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from ._bottleneck import bottleneck as bottleneck
from ._bottleneck import bottleneck_closure as bottleneck_closure
from ._bottleneck import map_groups, solve_group
from ._checks import real_param, settle
from ._checks import work_dtype as work_dtype
from ._solution import RESULTS, AbstractSolution, finish

_NONFINITE = "`values` contains NaN or inf entries."


def _check_values(values, name="values") -> Array:
    """`values` as a real float array of shape (..., M, T, T) (trace-time checks only)."""
    if not isinstance(values, jax.Array):
        values = jnp.asarray(values)
    if jnp.issubdtype(values.dtype, jnp.complexfloating):
        raise TypeError(f"`{name}` must be real; got dtype {values.dtype}.")
    if not jnp.issubdtype(values.dtype, jnp.floating):
        values = values.astype(jnp.result_type(float))
    if values.ndim < 3:
        raise ValueError(
            f"`{name}` must have shape (..., M, T, T) with values[..., i, t, s] = g_t^i(mu_s); "
            f"got shape {values.shape}."
        )
    M, T, T2 = values.shape[-3:]
    if T != T2:
        raise ValueError(f"`{name}` must be square in its last two axes (T, T); got {values.shape}.")
    if M == 0 or T == 0:
        raise ValueError(f"`{name}` needs at least one agent and one experiment; got {values.shape}.")
    return values


# ---------------------------------------------------------------------------------------------
# the gap


def _gap_group(v, peel):
    """(L, flat index of the bottleneck edge) of one (M, T, T) data set; L is NaN if not finite."""
    M, T, _ = v.shape
    B, agent, t, s = solve_group(-v, floor=0.0, peel=peel)  # B is NaN if v has a NaN or infinite entry
    return jnp.where(jnp.isnan(B), jnp.nan, jnp.maximum(B, 0.0)), agent * T * T + t * T + s


@jax.custom_jvp
def _gap_batch(flat):
    return map_groups(_gap_group, flat)[0]  # flat (n, M, T, T) -> L (n,)


@_gap_batch.defjvp
def _gap_batch_jvp(primals, tangents):
    (flat,), (dflat,) = primals, tangents
    L, idx = map_groups(_gap_group, flat)
    n = flat.shape[0]
    dflat = dflat.reshape(n, -1)
    # minus the bottleneck edge where L > 0, zero where L = 0, and NaN over a failed data set
    # (written as products with constants, so the tangent stays linear and transposes)
    on = jnp.where(L > 0, 1.0, 0.0).astype(flat.dtype)
    nan = jnp.where(jnp.isnan(L), jnp.nan, 0.0).astype(flat.dtype)
    return L, -dflat[jnp.arange(n), idx] * on + jnp.sum(dflat, axis=1) * nan


@functools.partial(jax.jit, static_argnames="throw")
def _gap_jit(values, throw=False):
    flat = values.reshape((-1,) + values.shape[-3:])
    L = _gap_batch(flat).reshape(values.shape[:-3])
    return eqx.error_if(L, jnp.isnan(L), _NONFINITE) if throw else L


_CALLBACK_LOGGER = logging.getLogger("jax._src.callback")


def _quiet(record: logging.LogRecord) -> bool:
    """Hides jax's log record of a failed host callback (the error is raised to the caller)."""
    return record.getMessage() != "jax.pure_callback failed"


def run_refusing(fn, *args, message: str):
    """`fn(*args)`, run now, for a jitted `fn` whose only runtime error (`eqx.error_if`) says
    `message`: that error is raised as `ValueError(message)`. The check runs inside the compiled
    call (no host round trip of the data); only a failing call pays for reading the error."""
    _CALLBACK_LOGGER.addFilter(_quiet)
    try:
        return jax.block_until_ready(fn(*args))
    except (jax.errors.JaxRuntimeError, ValueError) as e:
        if message in str(e):
            raise ValueError(message) from None
        raise
    finally:
        _CALLBACK_LOGGER.removeFilter(_quiet)


def pareto_gap(values: Float[Array, "... M T T"], *, throw: bool = True) -> Float[Array, "..."]:
    """The Pareto gap L of paper eq. (10) (eq. (13) for empirical strategies).

    **Arguments:**

    - `values`: `values[..., i, t, s] = g_t^i(mu_s)`, shape (..., M, T, T) with any leading batch
      axes (see `jaxmd_rp.probe_values`).
    - `throw`: if True (default), a data set containing NaN/inf raises (a `ValueError`; an
      `equinox.EquinoxRuntimeError` under `jit`). If False, such a data set gets L = NaN (and NaN
      gradients) while every other one is computed as usual: the NaN is the failure flag (the only
      way this function fails is a non-finite input).

    **Returns:** L >= 0, shape `values.shape[:-3]`. L = 0 iff the data are consistent with social
    optimality (Theorem 1, for strategies that exhaust their probe, g_t^t = 0). With T = 1 the gap
    is max(0, -g_1(mu_1)): zero when the single observation exhausts its probe.

    Exact (a max-min of the entries, so float32 input gives the exact float32 answer), pure, and
    `jit`/`vmap`/`grad`-able; see the module docstring for the proof and the gradient.

    ```python
    >>> import jax.numpy as jnp, jaxmd_rp as rp
    >>> v = jnp.array([[[0.0, -0.5], [-0.25, 0.0]]])  # each bundle affordable at the other probe
    >>> float(rp.pareto_gap(v))
    0.25

    ```
    """
    values = _check_values(values)
    if not throw:
        return _gap_jit(values)
    if isinstance(values, jax.core.Tracer):
        return _gap_jit(values, throw=True)
    return run_refusing(functools.partial(_gap_jit, throw=True), values, message=_NONFINITE)


def pareto_gap_unchecked(values: Array) -> Array:
    """`pareto_gap(values, throw=False)`: NaN marks a data set with NaN/inf entries; for design
    loops, which mask or skip such data sets."""
    return _gap_jit(_check_values(values))


# ---------------------------------------------------------------------------------------------
# consistency tests: MM-GARP (Def. 5) and GARP_F (Def. 6, as corrected in docs/pareto_gap.md)


def _garp_violated(W: Float[Array, "... M T T"], tol=0.0) -> Bool[Array, "..."]:
    """GARP-type test on (..., M, T, T) weights: R = {W >= -tol}, P = {W > tol}.

    Violated iff t R* s (closure) and s P t for some agent and t, s; self-loops count (t R* t with
    W[t, t] > tol is a violation). `tol = 0` is the exact test.
    """
    C = bottleneck_closure(W)
    reach = C >= -tol
    return jnp.any(reach & (jnp.swapaxes(W, -1, -2) > tol), axis=(-3, -2, -1))


def _mm_weights(values, F):
    """MM-GARP's weights g_k(mu_k) - g_k(mu_j)."""
    return jnp.diagonal(values, axis1=-2, axis2=-1)[..., :, None] - values


def _f_weights(values, F):
    """GARP_F's weights -(g_t(mu_s) + F)."""
    return -values - F[..., None, None, None]


@functools.partial(jax.jit, static_argnums=0)
def _garp_values(weights, values, F, tol):
    W = weights(values, F)
    bad = ~jnp.all(jnp.isfinite(W), axis=(-3, -2, -1))
    return _garp_violated(jnp.where(jnp.isfinite(W), W, 0.0), tol), bad


def _garp_family(weights, values, F, tol):
    """The GARP-type test on `weights(values, F)`, in one compiled call."""
    violated, bad = _garp_values(weights, values, F, tol)
    return settle(~violated, bad, (_NONFINITE,), True)


def mm_garp(values: Float[Array, "... M T T"], *, tol=0.0) -> Bool[Array, "..."]:
    """MM-GARP (paper Definition 5), True where it holds.

    mu_k R mu_j iff g_k(mu_j) <= g_k(mu_k); H = transitive closure of R; MM-GARP holds iff
    mu_k H mu_j implies g_j(mu_k) >= g_j(mu_j), for every agent. (The paper writes "R" in the
    implication; the closure H it defines is what Theorem 1 needs, as in GARP.)

    `tol` (>= 0, default 0: exact) treats differences within `tol` as ties: R holds when
    g_k(mu_j) <= g_k(mu_k) + tol and the strict relation needs a margin above `tol`.
    """
    values = _check_values(values)
    tol = real_param(tol, "tol", values.dtype, low=0.0)
    return _garp_family(_mm_weights, values, None, tol)


def garp_f(values: Float[Array, "... M T T"], F, *, tol=0.0) -> Bool[Array, "..."]:
    """GARP_F, True where it holds: mu_t R_F mu_s iff g_t(mu_s) + F <= 0, P_F strict, no cycle of
    R_F with a P_F edge. It holds for every F > L and fails for every F < L, so
    L = inf{F >= 0 : GARP_F holds} (the paper's Theorem 4, stated as an infimum; at F = L it holds
    iff every bottleneck cycle has all edges equal to L).

    `F`: finite and >= 0 (the relaxation of Definition 6), a scalar or an array broadcasting
    against `values.shape[:-3]`. `tol`: tie tolerance as in `mm_garp` (default 0: exact).
    """
    values = _check_values(values)
    F = real_param(F, "F", values.dtype, low=0.0)
    tol = real_param(tol, "tol", values.dtype, low=0.0)
    return _garp_family(_f_weights, values, F, tol)


# ---------------------------------------------------------------------------------------------
# certificates and recovered utilities


class ParetoCertificate(AbstractSolution):
    """Numbers (u, lambda) proving L <= r, and how well they satisfy (10).

    **Fields:**

    - `u`, `lam`: shape (..., M, T); `lam > 0`. NaN where the element failed.
    - `r`: the level certified (L <= r).
    - `violation`: worst violation max_{i,t,s} (u_s - u_t - lam_t (g_t(mu_s) + r)) relative to the
      size of the terms; <= 0 up to rounding for a valid certificate.
    - `result`: `RESULTS.successful` iff the checker verified the certificate;
      `RESULTS.certificate_failed` if it could not be verified at r; `RESULTS.invalid_data` for a
      data set with NaN/inf entries.

    `.success` (alias `.valid`) is `result == RESULTS.successful`, elementwise. The numbers are in
    the dtype of revealed-preference arithmetic (float64 when enabled, else float32).
    """

    u: Array
    lam: Array
    r: Array
    violation: Array
    result: RESULTS

    @property
    def valid(self) -> Array:
        """Alias of `success`."""
        return self.success

    @property
    def stats(self) -> dict:
        return {"violation": self.violation}


def certificate_violation(values, u, lam, r) -> Array:
    """Worst relative violation of (10) by (u, lam) at level r; <= 0 means every inequality holds.

    Returns max over i, t, s of (u_s - u_t - lam_t (values_ts + r)) / (|u_s| + |u_t| +
    lam_t |values_ts + r|), or +inf if some lam <= 0 or some number (r included) is not finite.
    `u`, `lam`: shape (..., M, T) matching `values` (..., M, T, T); `r` broadcasts against the
    batch shape.
    """
    values = _check_values(values)
    dt = work_dtype()  # at least as wide as any float input
    arrays = []
    for name, x in (("u", u), ("lam", lam), ("r", r)):
        x = jnp.asarray(x)
        if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)):
            raise TypeError(f"`{name}` must be a real array; got dtype {x.dtype}.")
        arrays.append(x.astype(dt))
    u, lam, r = arrays
    if u.shape != values.shape[:-1] or lam.shape != values.shape[:-1]:
        raise ValueError(
            f"`u` and `lam` must have shape values.shape[:-1] = {values.shape[:-1]}; got "
            f"{u.shape} and {lam.shape}."
        )
    return _violation_jit(values.astype(dt), u, lam, r)


@jax.jit
def _violation_jit(values, u, lam, r):
    r = jnp.broadcast_to(r, values.shape[:-3])[..., None, None, None]
    rhs = lam[..., :, None] * (values + r)  # (..., M, t, s)
    lhs = u[..., None, :] - u[..., :, None]  # u_s - u_t
    size = jnp.abs(u[..., None, :]) + jnp.abs(u[..., :, None]) + jnp.abs(rhs)
    rel = (lhs - rhs) / jnp.where(size > 0, size, 1.0)
    worst = jnp.max(rel, axis=(-3, -2, -1))
    bad = ~jnp.all(jnp.isfinite(u) & jnp.isfinite(lam) & (lam > 0), axis=(-2, -1))
    bad = bad | ~jnp.all(jnp.isfinite(values), axis=(-3, -2, -1)) | ~jnp.isfinite(r[..., 0, 0, 0])
    return jnp.where(bad | jnp.isnan(worst), jnp.inf, worst)


def _construct_one_agent(W, C, r):
    """Top-down greedy (u, lam) for one agent at level r > B (see docs/pareto_gap.md)."""
    T = W.shape[-1]
    a = r - W  # a[t, s]
    desc = jnp.sum(C >= r, axis=-1)  # |descendants| in E = {W >= r}; E is a DAG when r > B
    order = jnp.argsort(-desc, stable=True)  # sources first

    def step(carry, t):
        u, lam, done = carry
        ub = jnp.where(done, u + lam * a[:, t], jnp.inf)  # v's constraint about t: u_t <= u_v + lam_v a_vt
        u_t = jnp.where(jnp.any(done), jnp.min(ub), 0.0)
        need = jnp.where(done, (u - u_t) / a[t, :], -jnp.inf)  # t's constraint about v: a_tv > 0
        lam_t = jnp.maximum(1.0, jnp.max(need))
        return (u.at[t].set(u_t), lam.at[t].set(lam_t), done.at[t].set(True)), None

    init = (jnp.zeros(T, W.dtype), jnp.ones(T, W.dtype), jnp.zeros(T, bool))
    (u, lam, _), _ = jax.lax.scan(step, init, order)
    return u, lam


def default_certificate_tol(dtype) -> float:
    """Default slack above L, relative to 1 + max|values|: max(1e-6, sqrt(eps)) of the arithmetic
    dtype (1e-6 in float64; 3.5e-4 in float32, where 1e-6 is below what the check resolves)."""
    return max(1e-6, float(np.sqrt(np.finfo(dtype).eps)))


def pareto_gap_certificate(values: Float[Array, "... M T T"], tol=None, r=None, *,
                           throw: bool = True) -> ParetoCertificate:
    """(u, lambda) satisfying every inequality of (10) at level r = L + tol (or a given r).

    Constructed in JAX from the bottleneck closure: for r > L the graph E of edges with
    g_t(mu_s) + r <= 0 is acyclic; nodes are placed in a topological order of E (by the number of
    E-descendants) and assigned, top down, the largest u and then the smallest lambda >= 1 that the
    already-placed nodes allow. Every inequality is then satisfied in exact arithmetic (proof in
    docs/pareto_gap.md); the result is verified by `certificate_violation` and reported valid only
    if every inequality holds up to rounding. The numbers can span a huge range (it is inherent to
    some data sets: chains of revealed preferences with tiny slack); when they overflow the
    certificate is reported invalid, never wrong.

    **Arguments:**

    - `values`: shape (..., M, T, T).
    - `tol`: slack above L, finite and > 0 (default `default_certificate_tol` x (1 + max|values|):
      1e-6 x scale in float64); ignored if `r` is given.
    - `r`: the level to certify (finite; a scalar or one per data set); must exceed L for a valid
      certificate.
    - `throw`: if True (default), raise when any data set's certificate fails; if False, failed
      data sets get NaN `u`, `lam` and their own `result` code (`certificate_failed`, or
      `invalid_data` for NaN/inf values) while the others are untouched.

    **Returns:** a `ParetoCertificate` (batched like `values.shape[:-3]`).

    ```python
    >>> import jax.numpy as jnp, jaxmd_rp as rp
    >>> v = jnp.array([[[0.0, -0.5], [-0.25, 0.0]]])  # L = 0.25
    >>> cert = rp.pareto_gap_certificate(v, r=0.3)
    >>> bool(cert.success), float(rp.certificate_violation(v, cert.u, cert.lam, 0.3)) <= 0
    (True, True)
    >>> str(rp.pareto_gap_certificate(v, r=0.2, throw=False).result)
    'certificate_failed'

    ```
    """
    values = _check_values(values)
    dt = work_dtype()  # at least as wide as any float input
    batch = values.shape[:-3]
    nan = jnp.full(batch, jnp.nan, dt)
    if r is None:
        r_arr = nan
        tol_arr = nan if tol is None else real_param(tol, "tol", dt, low=0.0, strict=True)
    else:
        r_arr, tol_arr = real_param(r, "r", dt), nan
    r_arr = jnp.broadcast_to(r_arr, batch) if jnp.ndim(r_arr) <= len(batch) else r_arr
    if r_arr.shape != batch:
        raise ValueError(f"`r` must broadcast to the batch shape {batch}; got shape {r_arr.shape}.")
    cert = _certificate_jit(values.astype(dt), r_arr, jnp.broadcast_to(tol_arr, batch),
                            default_certificate_tol(dt))
    return finish(cert, throw)


@eqx.filter_jit
def _certificate_jit(values, r_arr, tol_arr, default_tol):
    batch = values.shape[:-3]
    M, T = values.shape[-3], values.shape[-1]
    flat = values.reshape((-1, M, T, T))

    def one(v, r_req, tol_req):
        bad = ~jnp.all(jnp.isfinite(v))
        v = jnp.where(bad, 0.0, v)
        B, C = bottleneck(-v, with_closure=True)
        B = jnp.max(B)
        L = jnp.maximum(B, 0.0)
        scale = 1.0 + jnp.max(jnp.abs(v))
        t_ = jnp.where(jnp.isnan(tol_req), default_tol * scale, tol_req)
        r_ = jnp.where(jnp.isnan(r_req), L + t_, r_req)
        # construct at a level strictly between L and r, so rounding cannot break the check
        r_c = jnp.where(r_ > B, r_ - 0.5 * jnp.minimum(r_ - B, 1e-3 * scale), r_)
        u, lam = jax.vmap(_construct_one_agent, in_axes=(0, 0, None))(-v, C, r_c)
        viol = _violation_jit(v, u, lam, r_)
        ok = viol <= 32 * jnp.finfo(v.dtype).eps
        res = RESULTS.where(ok, RESULTS.successful, RESULTS.certificate_failed)
        res = RESULTS.where(bad, RESULTS.invalid_data, res)
        failed = bad | ~ok
        u, lam = jnp.where(failed, jnp.nan, u), jnp.where(failed, jnp.nan, lam)
        viol = jnp.where(bad, jnp.nan, viol)
        return ParetoCertificate(u=u, lam=lam, r=r_, violation=viol, result=res)

    cert = jax.vmap(one)(flat, r_arr.reshape(-1), tol_arr.reshape(-1))
    return jax.tree_util.tree_map(lambda x: x.reshape(batch + x.shape[1:]), cert)


class RecoveredUtility(eqx.Module):
    """Afriat-type utilities of Theorem 1 / eq. (28): U^i(x) = min_s [u_s^i + lam_s^i g_s^i(x)].

    `probe_fn(s, x)` must return the vector (g_s^i(x))_i of probe-s constraint values at a joint
    action x (e.g. `lambda s, x: game.revealed_constraints(probes[s], x)`). Calling the object
    with x returns the vector (U^i(x))_i; `total(x)` returns sum_i U^i(x).
    """

    u: Array
    lam: Array
    probe_fn: object = eqx.field(static=True)

    def __call__(self, x) -> Array:
        T = self.u.shape[-1]
        g = jax.vmap(lambda s: self.probe_fn(s, x))(jnp.arange(T))  # (T, M)
        return jnp.min(self.u.T + self.lam.T * g.astype(self.u.dtype), axis=0)

    def total(self, x) -> Array:
        return jnp.sum(self(x))


def recover_utilities(certificate: ParetoCertificate, probe_fn) -> RecoveredUtility:
    """The utilities (28) built from a valid, unbatched certificate; see `RecoveredUtility`.

    A `ValueError` if the certificate is batched or was not verified (its `result` is not
    `successful`): utilities from unverified numbers would rationalise nothing.
    """
    if not isinstance(certificate, ParetoCertificate):
        raise TypeError(f"`certificate` must be a ParetoCertificate; got {type(certificate).__name__}.")
    if certificate.u.ndim != 2:
        raise ValueError("`certificate` must be for a single data set (u of shape (M, T)).")
    if not callable(probe_fn):
        raise TypeError("`probe_fn` must be callable as probe_fn(s, x).")
    if not isinstance(certificate.result._value, jax.core.Tracer) and not bool(certificate.success):
        raise ValueError(
            f"`certificate` was not verified (result: {certificate.result}); recover utilities "
            "only from a successful certificate."
        )
    return RecoveredUtility(u=certificate.u, lam=certificate.lam, probe_fn=probe_fn)
