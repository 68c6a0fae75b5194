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

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._solution import RESULTS

_UNROLL_T = 64  # unroll Floyd-Warshall up to this T (straight-line fused kernels)
_CHUNK_BYTES = 2**20  # CPU: process data sets in chunks of about this size (cache-resident)


def _check_values(values, name="values") -> Array:
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


def _finite(values, name="values"):
    return eqx.error_if(
        values, ~jnp.all(jnp.isfinite(values)), f"`{name}` contains NaN or inf entries."
    )


def bottleneck_closure(W: Float[Array, "... T T"]) -> Float[Array, "... T T"]:
    """(max, min) closure: C[t, s] = max over paths t -> s (length >= 1) of the smallest weight.

    Floyd-Warshall in the (max, min) semiring, O(T^3) per matrix; any leading batch axes.
    """
    T = W.shape[-1]

    def relax(k, C):
        col = jax.lax.dynamic_index_in_dim(C, k, axis=-1, keepdims=True)  # (..., T, 1)
        row = jax.lax.dynamic_index_in_dim(C, k, axis=-2, keepdims=True)  # (..., 1, T)
        return jnp.maximum(C, jnp.minimum(col, row))

    if T <= _UNROLL_T:
        C = W
        for k in range(T):
            C = jnp.maximum(C, jnp.minimum(C[..., :, k : k + 1], C[..., k : k + 1, :]))
        return C
    return jax.lax.fori_loop(0, T, relax, W)


def _diag(C):
    return jnp.diagonal(C, axis1=-2, axis2=-1)


def _bottleneck(values):
    """(B, C) with B = max_i max_t C_i[t, t] (may be negative) and C the closures."""
    C = bottleneck_closure(-values)
    return jnp.max(_diag(C), axis=(-2, -1)), C


def _critical_edge(values, B, C):
    """Flat index of a bottleneck edge (i, t, s) of an optimal cycle (one instance)."""
    W = -values
    M, T, _ = W.shape
    back = jnp.swapaxes(C, -1, -2)  # back[i, t, s] = C[i, s, t]: best return path s -> t
    on_cycle = (W == B) & ((back >= B) | jnp.eye(T, dtype=bool)[None])
    return jnp.argmax(on_cycle.reshape(-1))


# ---------------------------------------------------------------------------------------------
# Large T: prune, then close only the core.
#
# B is the largest r such that the graph {W >= r} has a cycle. A cheap lower bound lb comes from the
# best 2-cycle or self-loop (max of min(W, W^T)); a lower bound from the cycles of the best-in-edge
# functional graph was tried too and cost more than it saved (pointer-chasing gathers). A cycle with
# bottleneck above a level r has all its nodes keeping an in- and an out-edge > r among themselves,
# so it survives the iterated removal of nodes without such edges (the "core" at level r). Peeling
# at r = max(lb, 0): if the core is empty, L = max(lb, 0) exactly; if it has at most _CORE nodes,
# the closure of the core's subgraph gives B = max(lb, B_core) exactly. Only a larger core needs the
# full O(T^3) closure. On revealed-preference data the bound is usually already exact and the core
# has a handful of nodes (consistent data: none), so the cost is O(T^2) per peeling round.

_PRUNE_T = 64  # use pruning above this T (measured crossover on CPU)
_CORE = 16  # largest core closed directly


def _pruned_one(W):
    """One (T, T) matrix: (B, t, s, need_full) with (t, s) a bottleneck edge of an optimal cycle."""
    T = W.shape[-1]
    neg = jnp.asarray(-jnp.inf, W.dtype)
    # 2-cycles and self-loops: lb and its bottleneck edge (t0, s0)
    two = jnp.minimum(W, W.T)
    k2 = jnp.argmax(two.reshape(-1))
    lb = two.reshape(-1)[k2]
    a2, b2 = k2 // T, k2 % T
    first = W[a2, b2] <= W[b2, a2]
    t0, s0 = jnp.where(first, a2, b2), jnp.where(first, b2, a2)
    # peel the core at level max(lb, 0): only cycles above it can change L = max(B, 0); on
    # consistent data {W > 0} is acyclic and peels away completely (L = 0 without a closure)
    level = jnp.maximum(lb, 0.0)
    above = W > level

    def peel(carry):
        alive, _ = carry
        E = above & alive[:, None] & alive[None, :]
        new = alive & jnp.any(E, axis=0) & jnp.any(E, axis=1)
        return new, jnp.any(new != alive)

    alive, _ = jax.lax.while_loop(lambda c: c[1], peel, (jnp.ones(T, bool), jnp.array(True)))
    m = jnp.sum(alive)
    # close the core
    idx = jnp.nonzero(alive, size=_CORE, fill_value=0)[0]
    valid = jnp.arange(_CORE) < m
    Wc = jnp.where(valid[:, None] & valid[None, :], W[idx][:, idx], neg)
    Cc = bottleneck_closure(Wc)
    Bc = jnp.max(jnp.diagonal(Cc))
    back = Cc.T
    on_cycle = (Wc == Bc) & ((back >= Bc) | jnp.eye(_CORE, dtype=bool))
    kc = jnp.argmax(on_cycle.reshape(-1))
    use_c = (m > 0) & (Bc > lb)
    B = jnp.where(use_c, Bc, lb)
    t = jnp.where(use_c, idx[kc // _CORE], t0)
    s_ = jnp.where(use_c, idx[kc % _CORE], s0)
    return B, t, s_, m > _CORE


def _gap_and_edge(values):
    """values (n, M, T, T) -> (B (n,), flat edge index into (M, T, T) (n,)); B unclipped."""
    n, M, T, _ = values.shape
    W = -values

    def full(W):
        C = bottleneck_closure(W)
        B = jnp.max(_diag(C), axis=(-2, -1))
        idx = jax.vmap(_critical_edge)(-W, B, C)
        return B, idx

    if T <= _PRUNE_T:
        return full(W)
    Bi, ti, si, need = jax.vmap(jax.vmap(_pruned_one))(W)  # (n, M)
    agent = jnp.argmax(Bi, axis=1)
    rows = jnp.arange(n)
    B = Bi[rows, agent]
    idx = agent * T * T + ti[rows, agent] * T + si[rows, agent]
    # the full closure only where some matrix of this batch needs it (a real branch, not a select,
    # unless the caller vmaps over this function)
    return jax.lax.cond(jnp.any(need), full, lambda W: (B, idx), W)


@jax.custom_jvp
def _gap_batch(values):
    """values (n, M, T, T) -> L (n,)."""
    B, _ = _gap_and_edge(values)
    return jnp.maximum(B, 0.0)


@_gap_batch.defjvp
def _gap_batch_jvp(primals, tangents):
    (values,), (dvalues,) = primals, tangents
    B, idx = _gap_and_edge(values)
    n = values.shape[0]
    dB = -dvalues.reshape(n, -1)[jnp.arange(n), idx]
    return jnp.maximum(B, 0.0), jnp.where(B > 0, dB, jnp.zeros_like(dB))


def pareto_gap(values: Float[Array, "... M T T"]) -> Float[Array, "..."]:
    """The Pareto gap L of paper eq. (10) (eq. (13) for empirical strategies).

    **Arguments:**

    - `values`: `values[..., i, t, s] = g_t^i(mu_s)`, shape (..., M, T, T) with any leading batch
      axes (see `jaxmd_rp.probe_values`).

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
    return _gap_jit(values, True)


def pareto_gap_unchecked(values: Array) -> Array:
    """`pareto_gap` without the NaN/inf check (NaN propagates); for use inside design loops."""
    return _gap_jit(_check_values(values), False)


def _chunk_size(values) -> int | None:
    """Data sets per chunk on CPU (cache blocking of the O(T^3) closure); None = all at once.

    Each step of the closure sweeps the whole (chunk, M, T, T) array, so on a CPU the chunk must
    stay cache-resident; on GPU/TPU one fully batched sweep is best.
    """
    if jax.default_backend() != "cpu":
        return None
    M, T = values.shape[-3], values.shape[-1]
    return max(4, _CHUNK_BYTES // (M * T * T * values.dtype.itemsize))


@eqx.filter_jit  # (equinox's jit: a NaN check fails with its own message, not a callback error)
def _gap_jit(values, check):
    if check:
        values = _finite(values)
    flat = values.reshape((-1,) + values.shape[-3:])
    chunk = _chunk_size(values)
    if chunk is None or chunk >= flat.shape[0]:
        out = _gap_batch(flat)
    else:
        n = flat.shape[0]
        pad = (-n) % chunk
        padded = jnp.concatenate([flat, jnp.zeros((pad,) + flat.shape[1:], flat.dtype)])
        out = jax.lax.map(_gap_batch, padded.reshape((-1, chunk) + flat.shape[1:]))
        out = out.reshape(-1)[:n]
    return out.reshape(values.shape[:-3])


# ---------------------------------------------------------------------------------------------
# consistency tests: MM-GARP (Def. 5) and GARP_F (Def. 6, as corrected in docs/pareto_gap.md)


@jax.jit
def _garp_violated(W):
    """GARP-type test on one (M, T, T) weight array: R = {W >= 0}, P = {W > 0}.

    Violated iff t R* s (closure) and s P t for some t, s. Self-loops count (t R* t with
    W[t, t] > 0 is a violation).
    """
    C = bottleneck_closure(W)
    reach = C >= 0
    return jnp.any(reach & (jnp.swapaxes(W, -1, -2) > 0), axis=(-3, -2, -1))


def mm_garp(values: Float[Array, "... M T T"]) -> Array:
    """MM-GARP (paper Definition 5), True where it holds.

    mu_k R mu_j iff g_k(mu_j) <= g_k(mu_k); H = transitive closure of R; MM-GARP holds iff
    mu_k H mu_j implies g_j(mu_k) >= g_j(mu_j), for every agent. (The paper writes "R" in the
    implication; the closure H it defines is what Theorem 1 needs, as in GARP.)
    """
    values = _finite(_check_values(values))
    diag = _diag(values)[..., :, None]
    return ~_garp_violated(diag - values)


def garp_f(values: Float[Array, "... M T T"], F) -> Array:
    """GARP_F, True where it holds: mu_t R_F mu_s iff g_t(mu_s) + F <= 0, P_F strict, no cycle of
    R_F with a P_F edge. It holds for every F > L and fails for every F < L, so
    L = inf{F >= 0 : GARP_F holds} (the paper's Theorem 4, stated as an infimum; at F = L it holds
    iff every bottleneck cycle has all edges equal to L).
    """
    values = _finite(_check_values(values))
    F = jnp.asarray(F, values.dtype)
    return ~_garp_violated(-values - F[..., None, None, None])


# ---------------------------------------------------------------------------------------------
# certificates and recovered utilities


class ParetoCertificate(eqx.Module):
    """Numbers (u, lambda) proving L <= r, and how well they satisfy (10).

    **Fields:**

    - `u`, `lam`: shape (..., M, T); `lam > 0`.
    - `r`: the level certified (L <= r).
    - `violation`: worst violation max_{i,t,s} (u_s - u_t - lam_t (g_t(mu_s) + r)) relative to the
      size of the terms; <= 0 up to rounding for a valid certificate.
    - `result`: `RESULTS.successful` iff the checker verified the certificate.
    """

    u: Array
    lam: Array
    r: Array
    violation: Array
    result: RESULTS

    @property
    def valid(self) -> Array:
        return self.result == RESULTS.successful


def certificate_violation(values, u, lam, r):
    """Worst relative violation of (10) by (u, lam) at level r; <= 0 means every inequality holds.

    Returns max over i, t, s of (u_s - u_t - lam_t (values_ts + r)) / (|u_s| + |u_t| +
    lam_t |values_ts + r|), or +inf if some lam <= 0 or some number is not finite.
    """
    values = _check_values(values)
    return _violation_jit(values, jnp.asarray(u), jnp.asarray(lam), jnp.asarray(r, values.dtype))


@jax.jit
def _violation_jit(values, u, lam, r):
    r = r[..., None, None, None]
    rhs = lam[..., :, None] * (values + r)  # (..., M, t, s)
    lhs = u[..., None, :] - u[..., :, None]  # u_s - u_t
    size = jnp.abs(u[..., None, :]) + jnp.abs(u[..., :, None]) + jnp.abs(rhs)
    rel = (lhs - rhs) / jnp.where(size > 0, size, 1.0)
    worst = jnp.max(rel, axis=(-3, -2, -1))
    bad = ~jnp.all(jnp.isfinite(u) & jnp.isfinite(lam) & (lam > 0), axis=(-2, -1))
    bad = bad | ~jnp.all(jnp.isfinite(values), axis=(-3, -2, -1))
    return jnp.where(bad, jnp.inf, worst)


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


def pareto_gap_certificate(values: Float[Array, "... M T T"], tol=None, r=None) -> ParetoCertificate:
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
    - `tol`: slack above L (default 1e-6 * (1 + max|values|)); ignored if `r` is given.
    - `r`: the level to certify; must exceed L for a valid certificate.
    """
    values = _check_values(values)
    batch = values.shape[:-3]
    nan = jnp.full(batch, jnp.nan, values.dtype)
    r_arr = nan if r is None else jnp.broadcast_to(jnp.asarray(r, values.dtype), batch)
    tol_arr = nan if tol is None else jnp.broadcast_to(jnp.asarray(tol, values.dtype), batch)
    return _certificate_jit(values, r_arr, tol_arr)


@eqx.filter_jit
def _certificate_jit(values, r_arr, tol_arr):
    values = _finite(values)
    batch = values.shape[:-3]
    M, T = values.shape[-3], values.shape[-1]
    flat = values.reshape((-1, M, T, T))

    def one(v, r_req, tol_req):
        B, C = _bottleneck(v)
        L = jnp.maximum(B, 0.0)
        scale = 1.0 + jnp.max(jnp.abs(v))
        t_ = jnp.where(jnp.isnan(tol_req), 1e-6 * scale, tol_req)
        r_ = jnp.where(jnp.isnan(r_req), L + t_, r_req)
        # construct at a level strictly between L and r, so rounding cannot break the check
        r_c = jnp.where(r_ > B, r_ - 0.5 * jnp.minimum(r_ - B, 1e-3 * scale), r_)
        u, lam = jax.vmap(_construct_one_agent, in_axes=(0, 0, None))(-v, C, r_c)
        viol = _violation_jit(v, u, lam, r_)
        ok = viol <= 32 * jnp.finfo(v.dtype).eps
        res = RESULTS.where(ok, RESULTS.successful, RESULTS.certificate_failed)
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
        return jnp.min(self.u.T + self.lam.T * g, axis=0)

    def total(self, x) -> Array:
        return jnp.sum(self(x))


def recover_utilities(certificate: ParetoCertificate, probe_fn) -> RecoveredUtility:
    """The utilities (28) built from a (valid, unbatched) certificate; see `RecoveredUtility`."""
    if certificate.u.ndim != 2:
        raise ValueError("`certificate` must be for a single data set (u of shape (M, T)).")
    return RecoveredUtility(u=certificate.u, lam=certificate.lam, probe_fn=probe_fn)
