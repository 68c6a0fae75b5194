r"""The Wasserstein-robust Pareto gap (paper §5, eqs. 15-19) and Algorithm 2 (the exchange method).

Notation: M agents, T probes, N joint samples, goods in R^k (k <= 2). Indices of edge arrays are
`[k, i, s, t]`: sample k, agent i, *block* s (the experiment whose bundle is moved) and probe t.
(`pareto_gap` uses `values[i, t, s]`; the transpose does not change any cycle.)

**The problem.** Agent i's probe-t budget is A_t^i = {x >= 0 : g_t^i(x) = <alpha_t^i, x> - 1 <= 0}.
A data set Phi = (gamma_s^i) lies in Gamma = prod A_s^i; the empirical distribution puts mass 1/N
on each joint sample Phi_k = (gamma_{s,k}^i) (the N atoms of eq. 17). For psi = (u, lambda > 0) the
loss is the smallest r of (15),

    h(psi, Phi) = max(0, max_{i,s,t} [c_st^i - g_t^i(gamma_s^i)]),   c_st^i = (u_s^i - u_t^i)/lambda_t^i,

and the robust gap is L_DR = inf_psi sup_{Q : W(Q, P_N) <= eps, supp Q in Gamma} E_Q h(psi, Phi),
with transport cost d(Phi, Phi') = sum_{i,s} ||gamma_s^i - gamma'_s^i||_2 (eq. 17; the plain
Euclidean cost of the definition under (15) gives the same value because h is a maximum of terms
that each depend on one block, so a worst-case move touches one block only).

**Orders (the closure).** psi enters h only through the sign pattern of c: for strict total orders
sigma^i of [T] and U(sigma^i) = {(s, t) : s at or above t},

    h_sigma(Phi) = max(0, max_i max_{(s,t) in U(sigma^i)} -g_t^i(gamma_s^i)),
    inf_psi J(h(psi, .)) = min_sigma J(h_sigma)

for every J that is monotone and shifts by constants (here J = the worst-case expectation), because
h(psi, .) >= h_sigma for sigma = the order of u, and `certificate_from_orders` builds psi_eta with
h(psi_eta, .) <= h_sigma + eta for every eta > 0 (docs/robust.md). Certificates are therefore
*orders*; the infimum over psi is in general not attained.

**Duality and separation.** For fixed sigma (Gao & Kleywegt; Mohajerin Esfahani & Kuhn),

    sup_Q E_Q h_sigma = min_{kappa >= 0} eps kappa + (1/N) sum_k max(0, max_i max_{U(sigma^i)} a_k[i, s, t](kappa)),
    a_k[i, s, t](kappa) = sup_{gamma in A_s^i} [-g_t^i(gamma) - kappa ||gamma - gamma_{s,k}^i||]
                        = 1 - rho(alpha_t^i; A_s^i, gamma_{s,k}^i, kappa),

with rho(a; A, g, kappa) = min_{gamma in A} <a, gamma> + kappa ||gamma - g|| in closed form
(`budget_rho`). This is the separation problem (19), taken over Gamma (the paper's max over the
finite set Gamma~_k would always return CV <= 0). Each a is convex and non-increasing in kappa.

**The robust gap.** Hence L_DR = min_kappa eps kappa + min_sigma (1/N) sum_k max_i max_U a_k(kappa).
For one sample (or N identical samples) the minimum over sigma is a bottleneck closure,

    L_DR = min_{kappa >= 0} eps kappa + max_i B(a^i(kappa)),   B(w) = max over cycles of the smallest weight,

exactly, and F(kappa) = max_i B(a^i(kappa)) is continuous and non-increasing. `robust_pareto_gap`
minimises it by a fixed-shape branch and bound over kappa (on [l, r] the objective is at least
eps l + F(r)): `lower` is certified, `upper` is attained by an explicit (sigma, kappa). For distinct
samples the orders are shared across samples and the exact problem is combinatorial (a MILP over
orders); JAX returns certified bounds (lower: orders chosen per sample; upper: the best of several
candidate orders, each with its convex 1-D problem in kappa solved by golden section), and
`exact=True` runs the exchange method with an exact MILP master (SciPy/HiGHS, optional).

**Algorithm 2** (`exchange_method`): separation (19) over Gamma for every sample, record
max_k CV_k and the bounds, stop when max_k CV_k <= delta, add the maximisers as cuts, solve the
master (18) over orders: exactly by a bottleneck closure and kappa branch and bound for identical
samples (`master="closure"`, JAX, `vmap`-able), or by a MILP (`master="milp"`, SciPy, any samples).
"""

from __future__ import annotations

import math
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from ._game import AbstractGame
from ._pareto_gap import bottleneck_closure
from ._solution import RESULTS

Support = Literal["triangle", "line"]


# ---------------------------------------------------------------------------------------------
# input checks


def _float_dtype(*xs):
    dt = jnp.result_type(*xs)
    if not jnp.issubdtype(dt, jnp.floating):
        dt = jnp.result_type(float)
    return dt


def _check_support(support):
    if support not in ("triangle", "line"):
        raise ValueError(f"`support` must be 'triangle' or 'line'; got {support!r}.")


def _check_linear(prices, samples, epsilon, support):
    """Convert and validate (prices (M,T,k), samples (N,M,T,k), epsilon scalar)."""
    _check_support(support)
    prices = jnp.asarray(prices)
    samples = jnp.asarray(samples)
    dt = _float_dtype(prices, samples)
    prices, samples = prices.astype(dt), samples.astype(dt)
    if prices.ndim != 3:
        raise ValueError(
            f"`prices` must have shape (M, T, k) with prices[i, t] = alpha_t^i; got {prices.shape}."
        )
    M, T, k = prices.shape
    if M == 0 or T == 0:
        raise ValueError(f"`prices` needs at least one agent and one probe; got {prices.shape}.")
    if k not in (1, 2):
        raise ValueError(
            f"`prices` must have k = 1 or 2 goods (closed-form separation); got k = {k}."
        )
    if samples.ndim != 4:
        raise ValueError(
            f"`samples` must have shape (N, M, T, k) = (N, {M}, {T}, {k}) (sample k of agent i's "
            f"bundle at probe t); got {samples.shape}."
        )
    if samples.shape[0] == 0:
        raise ValueError("`samples` is empty (N = 0): pass at least one sample of each strategy.")
    if samples.shape[1:] != (M, T, k):
        raise ValueError(
            f"`samples` must have shape (N, M, T, k) = (N, {M}, {T}, {k}) to match `prices` "
            f"{prices.shape}; got {samples.shape}."
        )
    eps = jnp.asarray(epsilon)
    if eps.ndim != 0:
        raise ValueError(
            f"`epsilon` must be a scalar (vmap over several radii); got shape {eps.shape}."
        )
    eps = eps.astype(dt)
    eps = eqx.error_if(eps, ~(eps >= 0) | ~jnp.isfinite(eps),
                       "`epsilon` (the Wasserstein radius) must be finite and >= 0.")
    prices = eqx.error_if(prices, ~jnp.all(jnp.isfinite(prices) & (prices > 0)),
                          "`prices` must be finite and > 0 (a budget <alpha, x> <= 1 with alpha > 0).")
    tol = jnp.sqrt(jnp.finfo(dt).eps)
    spend = jnp.sum(prices[None] * samples, axis=-1)  # <alpha_t^i, x_{t,k}^i>
    bad = ~jnp.all(jnp.isfinite(samples)) | jnp.any(samples < 0) | jnp.any(spend > 1 + tol)
    samples = eqx.error_if(
        samples, bad,
        "`samples` must lie in the budget sets: samples >= 0 and <prices[i, t], samples[k, i, t]> "
        "<= 1 (a mixed strategy is a distribution on A_t^i, paper eq. 6).")
    if support == "line":
        samples = eqx.error_if(
            samples, jnp.any(jnp.abs(spend - 1) > tol),
            "`support='line'` needs every sample on its budget line: <prices[i, t], samples[k, i, t]> = 1.")
    return prices, samples, eps


# ---------------------------------------------------------------------------------------------
# separation: rho in closed form


def _seg_min(a, p0, p1, g, kappa):
    """min over gamma in [p0, p1] (2-D) of <a, gamma> + kappa ||gamma - g||; (value, minimiser)."""
    d = p1 - p0
    ell = jnp.sqrt(d @ d)
    e = d / ell
    b = a @ e
    w = p0 - g
    wpar = w @ e
    wperp = jnp.abs(w[0] * e[1] - w[1] * e[0])
    disc = kappa * kappa - b * b
    inside = disc > 0
    root = jnp.sqrt(jnp.where(inside, disc, 1.0))
    sig_in = jnp.clip(-wpar - b * wperp / root, 0.0, ell)
    sig_out = jnp.where(b >= 0, 0.0, ell)
    sig = jnp.where(inside, sig_in, sig_out)
    pt = p0 + sig * e
    r = pt - g
    return a @ pt + kappa * jnp.sqrt(r @ r), pt


def _rho(a, beta, g, kappa, support):
    """rho(a; A, g, kappa) = min_{gamma in A} <a, gamma> + kappa ||gamma - g|| and its minimiser,
    A = {gamma >= 0 : <beta, gamma> <= 1} (support 'triangle') or its face <beta, gamma> = 1
    ('line'); g in A. k = 1 or 2."""
    dt = a.dtype
    k = a.shape[-1]
    stay_val = a @ g
    if k == 1:
        top = 1.0 / beta
        zero = jnp.zeros_like(g)
        cands = [(stay_val, g), (a @ top + kappa * jnp.abs(top - g)[0], top)]
        if support == "triangle":
            cands.append((kappa * jnp.abs(g)[0], zero))
    else:
        o = jnp.zeros(2, dt)
        v1 = jnp.stack([1.0 / beta[0], jnp.zeros((), dt)])
        v2 = jnp.stack([jnp.zeros((), dt), 1.0 / beta[1]])
        cands = [(stay_val, g), _seg_min(a, v1, v2, g, kappa)]
        if support == "triangle":
            cands += [_seg_min(a, o, v1, g, kappa), _seg_min(a, o, v2, g, kappa)]
    vals = jnp.stack([c[0] for c in cands])
    pts = jnp.stack([c[1] for c in cands])
    j = jnp.argmin(vals)
    return vals[j], pts[j]


def budget_rho(a, prices, point, kappa, support: Support = "triangle"):
    r"""rho(a; A, g, kappa) = min_{gamma in A} <a, gamma> + kappa ||gamma - g||_2 in closed form.

    A = {gamma in R^k_+ : <prices, gamma> <= 1} (`support="triangle"`) or the budget line
    <prices, gamma> = 1 (`support="line"`); k = 1 or 2; `point` = g must lie in A. The minimum is
    the smaller of <a, g> (stay) and the exact minimum along each edge of A (a convex 1-D problem
    with a closed-form stationary point); an interior minimiser other than g exists only when
    ||a|| = kappa, and then its value is <a, g>.

    **Returns:** (value, minimiser). One instance; `jax.vmap` for batches.
    """
    _check_support(support)
    a, prices, point = (jnp.asarray(x) for x in (a, prices, point))
    dt = _float_dtype(a, prices, point)
    if a.ndim != 1 or a.shape[0] not in (1, 2) or prices.shape != a.shape or point.shape != a.shape:
        raise ValueError(
            "`a`, `prices` and `point` must be vectors of the same length k in {1, 2}; got "
            f"{a.shape}, {prices.shape}, {point.shape}."
        )
    return _rho(a.astype(dt), prices.astype(dt), point.astype(dt), jnp.asarray(kappa, dt), support)


def _edges_linear(prices, samples, kappa, support):
    """a[k,i,s,t] = 1 - rho(alpha_t^i; A_s^i, x_{s,k}^i, kappa), minimisers and move distances."""

    def over_t(A, beta, g):
        return jax.vmap(lambda at: _rho(at, beta, g, kappa, support))(A)

    def over_s(A, G):  # A = prices[i] (T, k), G = samples[k, i] (T, k)
        return jax.vmap(lambda beta, g: over_t(A, beta, g))(A, G)

    def over_i(G):  # G = samples[k] (M, T, k)
        return jax.vmap(over_s)(prices, G)

    val, pts = jax.vmap(over_i)(samples)  # (N, M, T, T), (N, M, T, T, k)
    dist = jnp.sqrt(jnp.sum((pts - samples[:, :, :, None, :]) ** 2, axis=-1))
    return 1.0 - val, pts, dist


def _nominal_linear(prices, samples):
    """W[k, i, s, t] = -g_t^i(x_{s,k}^i) = 1 - <alpha_t^i, x_{s,k}^i>."""
    return 1.0 - jnp.sum(prices[None, :, None, :, :] * samples[:, :, :, None, :], axis=-1)


# ---------------------------------------------------------------------------------------------
# orders, closures and the kappa search


def _bottleneck(a):
    """max_t C[..., t, t] of the (max, min) closure: the bottleneck B of each (T, T) graph."""
    C = bottleneck_closure(a)
    return jnp.max(jnp.diagonal(C, axis1=-2, axis2=-1), axis=-1), C


def _relaxed_F(a):
    """mean_k max(0, max_i B(a_k^i)): orders chosen per sample (exact for identical samples)."""
    B, _ = _bottleneck(a)  # (N, M)
    return jnp.mean(jnp.maximum(jnp.max(B, axis=-1), 0.0))


def _orders_from(a, thr):
    """Per-agent orders (top first), shape (..., M, T): a topological sort of {a > thr} with every
    such edge (s, t) put "s strictly below t". `thr` broadcasts against (..., M); needs thr >= B."""
    C = bottleneck_closure(a)
    reach = C > jnp.asarray(thr)[..., None, None]
    desc = jnp.sum(reach, axis=-1)  # number of nodes that must sit above s
    return jnp.argsort(desc, axis=-1, stable=True)


def upper_mask(orders: Int[Array, "... M T"]) -> Bool[Array, "... M T T"]:
    """U[i, s, t] = True iff experiment s is at or above t in agent i's order (orders list the
    experiments from top to bottom)."""
    orders = jnp.asarray(orders)
    pos = jnp.argsort(orders, axis=-1)  # pos[i, s] = position of s from the top
    return pos[..., :, None] <= pos[..., None, :]


def _masked_value(a, mask):
    """mean_k max(0, max_{i, (s,t) in U} a_k[i, s, t])."""
    neg = jnp.asarray(-jnp.inf, a.dtype)
    m = jnp.max(jnp.where(mask, a, neg), axis=(-3, -2, -1))
    return jnp.mean(jnp.maximum(m, 0.0))


_Q = 4  # tangent lines kept per point and sample in the kappa search


def _point_summary(a, d):
    """What the kappa search keeps about one kappa_j: F_k(kappa_j) = max(0, max_i B(a_k^i)) per
    sample and tangent lines for interval bounds.

    a, d: (N, M, T, T) edge values a_e(kappa_j) and slopes d_e >= 0 with
    a_e(kappa) >= a_e(kappa_j) - d_e (kappa - kappa_j) for every kappa (a_e is a maximum of affine
    functions of kappa; d_e is the slope of the active one). For the critical agent i* of sample k
    and its bottleneck level B, S = {edges of i* with a_e >= B lying on a cycle of {a >= B}}
    contains a bottleneck cycle C*, so for every kappa
    F_k(kappa) >= B_{i*}(kappa) >= min_{e in C*} a_e(kappa) >= min_{e in S} [a_e - d_e (kappa - kappa_j)],
    a concave function of kappa. The _Q lines with the smallest a_e are kept; the others are
    bounded by (the next a_e, the largest of their slopes).
    """
    dt = a.dtype
    B, C = _bottleneck(a)  # (N, M), (N, M, T, T)
    Bmax = jnp.max(B, axis=-1)
    Fk = jnp.maximum(Bmax, 0.0)
    istar = jnp.argmax(B, axis=-1)  # (N,)
    take = lambda z: jnp.take_along_axis(z, istar[:, None, None, None], axis=1)[:, 0]  # noqa: E731
    aa, dd, CC = take(a), take(d), take(C)  # (N, T, T)
    Bs = Bmax[:, None, None]
    T = a.shape[-1]
    on_cycle = (jnp.swapaxes(CC, -1, -2) >= Bs) | jnp.eye(T, dtype=bool)
    inS = (aa >= Bs) & on_cycle
    inf = jnp.asarray(jnp.inf, dt)
    n = a.shape[0]
    c = jnp.where(inS, aa, inf).reshape(n, -1)
    dflat = jnp.where(inS, dd, 0.0).reshape(n, -1)
    order = jnp.argsort(c, axis=-1)
    c = jnp.take_along_axis(c, order, axis=-1)
    dflat = jnp.take_along_axis(dflat, order, axis=-1)
    q = min(_Q, c.shape[-1])
    cq, dq = c[:, :q], dflat[:, :q]
    if c.shape[-1] > q:
        rest_c, rest_d = c[:, q], jnp.max(dflat[:, q:], axis=-1)
    else:
        rest_c, rest_d = jnp.full((n,), inf), jnp.zeros((n,), dt)
    ok = jnp.isfinite(Bmax)  # no cycle (masked graphs): no line bound
    cq = jnp.where(ok[:, None], cq, -inf)
    return Fk, (cq, dq, rest_c, rest_d)


def _interval_lb(eps, lo, up, Fk_up, sum_lo, sum_up):
    """Certified lower bound of min over [lo, up] of eps kappa + mean_k F_k(kappa).

    Three bounds, the largest is returned: eps lo + F(up) (F non-increasing), and for each end
    the concave minorant eps kappa + mean_k m_k(kappa) with m_k = the tangent lines kept at that
    end (or the constant F_k(up), whichever is larger on the interval), minimised at an endpoint.
    """
    h = up - lo

    def side(v_lo, v_up):  # (N,), (N,): a concave minorant per sample at the two ends
        def bound(use):
            m_lo = jnp.where(use, v_lo, Fk_up)
            m_up = jnp.where(use, v_up, Fk_up)
            return jnp.minimum(eps * lo + jnp.mean(m_lo), eps * up + jnp.mean(m_up))

        # every choice of minorant per sample is valid; try lines everywhere and a per-sample pick
        return jnp.maximum(bound(jnp.isfinite(v_lo) & jnp.isfinite(v_up)),
                           bound(0.5 * (v_lo + v_up) >= Fk_up))

    cR, dR, rcR, _ = sum_up  # tangents at `up`, extended to the left
    vR_up = jnp.minimum(jnp.min(cR, axis=-1), rcR)
    vR_lo = jnp.minimum(jnp.min(cR + dR * h, axis=-1), rcR)
    cL, dL, rcL, rdL = sum_lo  # tangents at `lo`, extended to the right
    vL_lo = jnp.minimum(jnp.min(cL, axis=-1), rcL)
    vL_up = jnp.minimum(jnp.min(cL - dL * h, axis=-1), rcL - rdL * h)
    mono = eps * lo + jnp.mean(Fk_up)
    return jnp.maximum(mono, jnp.maximum(side(vR_lo, vR_up), side(vL_lo, vL_up)))


def _bnb(point_fn, eps, hi, grid, rounds, keep, split):
    """min_{kappa in [0, hi]} eps kappa + mean_k F_k(kappa), each F_k non-increasing: fixed-shape
    best-first branch and bound. `point_fn(kappa)` returns (F_k (N,), summary) (`_point_summary`).
    Returns (lower, upper, kappa, F(kappa)): `upper` is attained at `kappa`, `lower` is certified
    (an interval [l, r] is bounded below by eps l + F(r) and by the tangent lines of its ends).

    Intervals live in fixed-size arrays (no sorting): each round the `keep` intervals with the
    smallest bounds are split into `split` children; child 0 takes the parent's slot."""
    dt = hi.dtype
    P = jax.vmap(point_fn)
    LB = jax.vmap(lambda lo, up, fu, sl, su: _interval_lb(eps, lo, up, fu, sl, su))
    tmap = jax.tree_util.tree_map
    k0 = hi * jnp.linspace(0.0, 1.0, grid, dtype=dt)
    f0, s0 = P(k0)  # (grid, N), summaries with leading axis grid
    n0 = grid - 1
    n_new = keep * (split - 1)
    cap = n0 + rounds * n_new
    pad = lambda z: jnp.concatenate([z, jnp.zeros((cap - n0,) + z.shape[1:], z.dtype)])  # noqa: E731
    lo, up = pad(k0[:-1]), pad(k0[1:])
    fu = pad(f0[1:])
    sl, su = tmap(lambda z: pad(z[:-1]), s0), tmap(lambda z: pad(z[1:]), s0)
    lb = jnp.full(cap, jnp.inf, dt).at[:n0].set(LB(k0[:-1], k0[1:], f0[1:],
                                                   tmap(lambda z: z[:-1], s0),
                                                   tmap(lambda z: z[1:], s0)))
    vals0 = eps * k0 + jnp.mean(f0, axis=-1)
    j0 = jnp.argmin(vals0)
    best = (vals0[j0], k0[j0], jnp.mean(f0[j0]))
    frac = jnp.arange(1, split, dtype=dt) / split

    def body(r, carry):
        lo, up, fu, sl, su, lb, best = carry
        _, idx = jax.lax.top_k(-lb, keep)
        plo, pup = lo[idx], up[idx]
        t = plo[:, None] + (pup - plo)[:, None] * frac  # (keep, split - 1)
        fn, sn = P(t.reshape(-1))
        fn = fn.reshape(keep, split - 1, -1)
        sn = tmap(lambda z: z.reshape((keep, split - 1) + z.shape[1:]), sn)
        pts = jnp.concatenate([plo[:, None], t, pup[:, None]], axis=1)  # (keep, split + 1)
        fpts = jnp.concatenate([fn, fu[idx][:, None]], axis=1)  # F at pts[:, 1:]
        spts = tmap(lambda a, n, b: jnp.concatenate([a[idx][:, None], n, b[idx][:, None]], axis=1),
                    sl, sn, su)
        c_lo, c_up = pts[:, :-1], pts[:, 1:]  # (keep, split)
        c_sl = tmap(lambda z: z[:, :-1], spts)
        c_su = tmap(lambda z: z[:, 1:], spts)
        flat = lambda z: z.reshape((keep * split,) + z.shape[2:])  # noqa: E731
        c_lb = LB(flat(c_lo), flat(c_up), flat(fpts), tmap(flat, c_sl), tmap(flat, c_su))
        slots = jnp.concatenate([idx[:, None], n0 + r * n_new
                                 + jnp.arange(n_new).reshape(keep, split - 1)], axis=1)
        slots = slots.reshape(-1)
        put = lambda z, v: z.at[slots].set(v)  # noqa: E731
        lo, up, fu, lb = put(lo, flat(c_lo)), put(up, flat(c_up)), put(fu, flat(fpts)), put(lb, c_lb)
        sl = tmap(lambda z, v: put(z, flat(v)), sl, c_sl)
        su = tmap(lambda z, v: put(z, flat(v)), su, c_su)
        vals = eps * t.reshape(-1) + jnp.mean(fn.reshape(n_new, -1), axis=-1)
        j = jnp.argmin(vals)
        better = vals[j] < best[0]
        best = tmap(lambda o, n: jnp.where(better, n, o), best,
                    (vals[j], t.reshape(-1)[j], jnp.mean(fn.reshape(n_new, -1)[j])))
        return lo, up, fu, sl, su, lb, best

    carry = (lo, up, fu, sl, su, lb, best)
    if rounds > 0:
        carry = jax.lax.fori_loop(0, rounds, body, carry)
    lb, (ub, kbest, fbest) = carry[5], carry[6]
    return jnp.min(lb), ub, kbest, fbest


def _golden(G, hi, iters, kappa0=None):
    """Minimise a convex G on [0, hi] by golden section. `G` maps a vector of kappas to a vector.
    Returns (the smallest value seen, its kappa); `kappa0` is an extra point evaluated first."""
    dt = hi.dtype
    invphi = (math.sqrt(5.0) - 1.0) / 2.0
    lo, up = jnp.zeros((), dt), hi
    x1, x2 = up - invphi * (up - lo), lo + invphi * (up - lo)
    pts = jnp.stack([x1, x2, lo, up, lo if kappa0 is None else jnp.asarray(kappa0, dt)])
    vals = G(pts)
    j = jnp.argmin(vals)
    init = (lo, up, x1, x2, vals[0], vals[1], vals[j], pts[j])

    def body(_, c):
        lo, up, x1, x2, f1, f2, bv, bkk = c
        left = f1 <= f2  # minimum in [lo, x2]
        lo_n = jnp.where(left, lo, x1)
        up_n = jnp.where(left, x2, up)
        x_new = jnp.where(left, up_n - invphi * (up_n - lo_n), lo_n + invphi * (up_n - lo_n))
        f_new = G(x_new[None])[0]
        x1_n = jnp.where(left, x_new, x2)
        x2_n = jnp.where(left, x1, x_new)
        f1_n = jnp.where(left, f_new, f2)
        f2_n = jnp.where(left, f1, f_new)
        better = f_new < bv
        return (lo_n, up_n, x1_n, x2_n, f1_n, f2_n, jnp.where(better, f_new, bv),
                jnp.where(better, x_new, bkk))

    out = jax.lax.fori_loop(0, iters, body, init)
    return out[6], out[7]


# ---------------------------------------------------------------------------------------------
# the robust gap


class RobustGap(eqx.Module):
    """Result of `robust_pareto_gap`.

    **Fields:**

    - `value`: the robust gap L_DR^eps as computed: equal to `upper`, the worst-case expected
      loss of the returned certificate (orders, kappa), which is attained. For one sample or
      identical samples `upper - lower` is the width of the kappa search (about 1e-12 in float64).
    - `lower`, `upper`: certified bounds, lower <= L_DR <= upper. For distinct samples `lower`
      lets each sample choose its own orders (a relaxation); `upper` uses shared orders.
    - `kappa`: the Wasserstein multiplier of the certificate (v_{N+1} of eq. 17).
    - `orders`: (M, T) ints, agent i's experiments from top (largest u) to bottom; psi with
      h(psi, .) <= h_sigma + eta is `certificate_from_orders(orders, eta)`.
    - `result`: `RESULTS.successful`; `RESULTS.robust_gap_inexact` when the kappa search did not
      narrow its own bracket to `tol` (increase `rounds`); `RESULTS.robust_gap_bracket` when, with
      distinct samples, the certified bracket [lower, upper] is wider than `tol`: `value` (= upper)
      is then an attained upper bound that can exceed L_DR (use `exact=True` for the exact value).
    """

    value: Array
    lower: Array
    upper: Array
    kappa: Array
    orders: Array
    result: RESULTS


class _SearchConfig(eqx.Module):
    grid: int = eqx.field(static=True, default=32)
    rounds: int = eqx.field(static=True, default=16)
    keep: int = eqx.field(static=True, default=4)
    split: int = eqx.field(static=True, default=4)
    golden: int = eqx.field(static=True, default=32)

    def __check_init__(self):
        if self.grid < self.keep + 1 or self.keep < 1 or self.split < 2 or self.rounds < 0:
            raise ValueError(
                "kappa search needs grid >= keep + 1, keep >= 1, split >= 2, rounds >= 0; got "
                f"grid={self.grid}, keep={self.keep}, split={self.split}, rounds={self.rounds}."
            )


def _robust_core(edge_fn, eps, hi, cfg: _SearchConfig, tol, throw):
    """The kappa search on a generic edge function kappa -> a (N, M, T, T)."""
    dt = hi.dtype
    point = lambda k: _point_summary(*edge_fn(k))  # noqa: E731
    lb, ub_relax, khat, _ = _bnb(point, eps, hi, cfg.grid, cfg.rounds, cfg.keep, cfg.split)

    a0 = edge_fn(khat)[0]
    N, M, T = a0.shape[:3]

    def candidates(kappa):
        a = edge_fn(kappa)[0]  # (N, M, T, T)
        B, _ = _bottleneck(a)
        per = _orders_from(a, B)  # (N, M, T)
        if N == 1:  # one sample: its bottleneck order is optimal at kappa
            return per
        pooled = []
        for agg in (jnp.mean(a, axis=0), jnp.max(a, axis=0)):
            Bp, _ = _bottleneck(agg)
            pooled.append(_orders_from(agg, Bp)[None])
        return jnp.concatenate([per] + pooled, axis=0)  # (N + 2, M, T)

    def solve(mask, kappa0):
        G = jax.vmap(lambda k: eps * k + _masked_value(edge_fn(k)[0], mask))
        return _golden(G, hi, cfg.golden, kappa0)

    def one_pass(_, c):  # candidate orders at kappa, then each one's convex kappa problem
        best, kbest, obest = c
        orders = candidates(kbest)
        vals, ks = jax.vmap(solve, in_axes=(0, None))(upper_mask(orders), kbest)
        j = jnp.argmin(vals)
        better = vals[j] < best
        return (jnp.where(better, vals[j], best), jnp.where(better, ks[j], kbest),
                jnp.where(better, orders[j], obest))

    init = (jnp.asarray(jnp.inf, dt), khat, jnp.broadcast_to(jnp.arange(T), (M, T)))
    upper, kappa, orders = jax.lax.fori_loop(0, 1 if N == 1 else 2, one_pass, init)
    slack = 16 * jnp.finfo(dt).eps * (1.0 + jnp.abs(ub_relax) + eps * hi)
    lower = jnp.minimum(jnp.maximum(lb - slack, 0.0), upper)
    tol_ = jnp.asarray(1e3 * jnp.finfo(dt).eps ** 0.75 if tol is None else tol, dt)
    ok = (ub_relax - lb) <= tol_ * (1.0 + ub_relax)
    # distinct samples: `upper` is attained by shared orders and `lower` is a relaxation, so the
    # certified bracket can stay wide; say so (the bounds are valid, the value may exceed L_DR)
    wide = (N > 1) & ((upper - lower) > tol_ * (1.0 + upper))
    result = RESULTS.where(wide, RESULTS.robust_gap_bracket, RESULTS.successful)
    result = RESULTS.where(ok, result, RESULTS.robust_gap_inexact)
    sol = RobustGap(value=upper, lower=lower, upper=upper, kappa=kappa, orders=orders, result=result)
    if throw:  # a wide bracket for distinct samples is reported, not raised
        sol = result.error_if(sol, result == RESULTS.robust_gap_inexact)
    return sol


def _kappa_hi(eps, kmax, F0):
    safe = jnp.where(eps > 0, eps, 1.0)
    return jnp.where(eps > 0, jnp.minimum(kmax, F0 / safe), kmax)


def robust_pareto_gap(
    prices: Float[Array, "M T k"],
    samples: Float[Array, "N M T k"],
    epsilon,
    *,
    support: Support = "triangle",
    exact: bool = False,
    tol: float | None = None,
    grid: int = 32,
    rounds: int = 16,
    keep: int = 4,
    split: int = 4,
    golden: int = 32,
    throw: bool = True,
) -> RobustGap:
    r"""The Wasserstein-robust Pareto gap L_DR^eps of paper eq. (15) for linear budgets.

    L_DR = inf_psi sup_{Q : W_1(Q, P_N) <= eps, supp Q in Gamma} E_Q h(psi, Phi), with probes
    g_t^i(x) = <prices[i, t], x> - 1, P_N the N joint samples and Gamma the product of the budget
    sets (see the module docstring and docs/robust.md for every reading chosen).

    **Arguments:**

    - `prices`: (M, T, k), k in {1, 2}, positive: prices[i, t] = alpha_t^i.
    - `samples`: (N, M, T, k): samples[k, i, t] = agent i's k-th observed bundle at probe t, inside
      its budget set. N = 1 for pure strategies.
    - `epsilon`: the radius eps >= 0 (a scalar; vmap over radii).
    - `support`: "triangle" (the budget set, default) or "line" (the budget line; samples on it).
    - `exact`: run the exchange method with an exact MILP master (needs SciPy; not jittable) and
      return its bracket instead (useful for distinct samples).
    - `tol`: relative width of the kappa search below which `result` is successful.
    - `grid`, `rounds`, `keep`, `split`, `golden`: sizes of the kappa search (static).
    - `throw`: raise if `result` is not successful (pass False under vmap and read `.result`).

    **Returns:** a `RobustGap` (value, lower, upper, kappa, orders, result).

    One instance per call: `jax.vmap` over runs, radii and SPSA perturbations. For one sample or
    identical samples the problem is min_kappa eps kappa + max_i B(a^i(kappa)) with B a bottleneck
    closure, and `value` is exact up to the certified [lower, upper]; for eps = 0 it is the Pareto
    gap of eq. (10).

    ```python
    >>> import jax, jax.numpy as jnp, jaxmd_rp as rp
    >>> jax.config.update("jax_enable_x64", True)
    >>> game = rp.games.BudgetGame()
    >>> probes = rp.sample_probes(game, jax.random.PRNGKey(0), 5)         # (T, 6)
    >>> prices = jnp.swapaxes(jax.vmap(game.prices)(probes), 0, 1)         # (M, T, 2)
    >>> x = jnp.swapaxes(jax.vmap(game.demand)(probes), 0, 1)              # (M, T, 2)
    >>> sol = rp.robust_pareto_gap(prices, x[None], 0.0)
    >>> float(sol.value) < 1e-12                                           # rational data: L = 0
    True
    >>> sol = rp.robust_pareto_gap(prices, x[None], 0.01)
    >>> bool(sol.lower <= sol.upper) and 0.0 < float(sol.value) < 0.05
    True

    ```
    """
    cfg = _SearchConfig(grid=grid, rounds=rounds, keep=keep, split=split, golden=golden)
    if exact:
        prices, samples, eps = _check_linear(prices, samples, epsilon, support)
        return _robust_exact(prices, samples, eps, support, tol, throw)
    # arrays, not Python floats, so that new values do not recompile (filter_jit)
    tol = None if tol is None else jnp.asarray(tol)
    return _robust_linear(jnp.asarray(prices), jnp.asarray(samples), jnp.asarray(epsilon), support,
                          cfg, tol, throw)


@eqx.filter_jit
def _robust_linear(prices, samples, epsilon, support, cfg, tol, throw):
    prices, samples, eps = _check_linear(prices, samples, epsilon, support)
    edge_fn = lambda k: _edges_linear(prices, samples, k, support)[::2]  # noqa: E731
    kmax = jnp.max(jnp.sqrt(jnp.sum(prices**2, axis=-1)))
    hi = _kappa_hi(eps, kmax, jnp.ones((), prices.dtype))
    return _robust_core(edge_fn, eps, hi, cfg, tol, throw)


def robust_pareto_gap_game(
    game: AbstractGame,
    probes,
    strategies,
    epsilon,
    *,
    support: Support = "triangle",
    tol: float | None = None,
    grid: int = 32,
    rounds: int = 16,
    keep: int = 4,
    split: int = 4,
    golden: int = 32,
    throw: bool = True,
) -> RobustGap:
    r"""The robust gap through the game API (`game.revealed_constraints` as the probes g_t^i).

    **Arguments:**

    - `game`: an `AbstractGame`. Two kinds are supported:
      - games with a `prices(probe)` method (linear budgets, e.g. `games.BudgetGame`): forwarded
        to `robust_pareto_gap`;
      - scalar-action games (`action_dim = None`) whose row i of `revealed_constraints` depends on
        player i's own action only, is concave and increasing in it (Assumption 1), with support
        A_t^i = {x_i >= lower_i : g_t^i(x_i) <= 0}. Then the adversary's best move of a bundle is to
        stay or to go to `lower` (a concave function of one variable on each side of the sample),
        so a[k,i,s,t](kappa) = max(-g_t^i(x_{s,k}^i), -g_t^i(lower_i) - kappa (x_{s,k}^i - lower_i)).
        The river game with `probe_reading="own"` is of this kind.
    - `probes`: (T, probe_dim).
    - `strategies`: (T, *action_shape) (pure) or (T, N, *action_shape) samples, as for
      `probe_values`.
    - `epsilon`, `support`, ...: as for `robust_pareto_gap` (`support` only for linear budgets).
    """
    probes = jnp.asarray(probes)
    strategies = jnp.asarray(strategies)
    shape = game.action_shape
    if probes.ndim != 2 or probes.shape[-1] != game.probe_dim:
        raise ValueError(f"`probes` must have shape (T, {game.probe_dim}); got {probes.shape}.")
    T = probes.shape[0]
    if strategies.shape == (T, *shape):
        strategies = strategies[:, None]
    elif strategies.ndim != len(shape) + 2 or strategies.shape[0] != T or strategies.shape[2:] != shape:
        raise ValueError(
            f"`strategies` must have shape (T, *action_shape) = {(T, *shape)} or (T, N, *action_shape); "
            f"got {strategies.shape}."
        )
    kw = dict(tol=tol, grid=grid, rounds=rounds, keep=keep, split=split, golden=golden, throw=throw)
    if hasattr(game, "prices"):
        prices = jnp.swapaxes(jax.vmap(game.prices)(probes), 0, 1)  # (M, T, k)
        samples = jnp.moveaxis(strategies, 0, 2)  # (N, M, T, k)
        return robust_pareto_gap(prices, samples, epsilon, support=support, **kw)
    if game.action_dim is not None:
        raise ValueError(
            "`robust_pareto_gap_game` supports linear-budget games (with a `prices` method) and "
            f"scalar-action games (action_dim=None); got action_dim={game.action_dim}."
        )
    cfg = _SearchConfig(grid=grid, rounds=rounds, keep=keep, split=split, golden=golden)
    tol = None if tol is None else jnp.asarray(tol)
    return _robust_scalar_game(game, probes, strategies, jnp.asarray(epsilon), cfg, tol, throw)


@eqx.filter_jit
def _robust_scalar_game(game, probes, strategies, epsilon, cfg, tol, throw):
    shape = game.action_shape
    T = probes.shape[0]
    dt = _float_dtype(probes, strategies)
    x = strategies.astype(dt)  # (T, N, M)
    N = x.shape[1]
    if N == 0:
        raise ValueError("`strategies` is empty (N = 0): pass at least one sample.")
    lower = jnp.broadcast_to(jnp.asarray(game.lower, dt), shape)
    rc = lambda p, z: game.revealed_constraints(p, z)  # noqa: E731
    # g_stay[t, s, k, r] = g_t^r(x_{s,k})
    g_stay = jax.vmap(lambda p: jax.vmap(jax.vmap(lambda z: rc(p, z)))(x))(probes.astype(dt))
    if g_stay.shape[-1] != game.num_agents:
        raise ValueError(
            "the robust gap needs one probe row per player (row i = g^i of player i's own action); "
            f"`game.revealed_constraints` returns {g_stay.shape[-1]} rows for {game.num_agents} players."
        )
    g_stay = jnp.transpose(g_stay, (2, 3, 1, 0))  # (N, M, T_s, T_t)
    g_low = jnp.transpose(jax.vmap(lambda p: rc(p, lower))(probes.astype(dt)), (1, 0))  # (M, T_t)
    dist = jnp.transpose(x - lower, (1, 2, 0))  # (N, M, T_s)
    own = g_stay[..., jnp.arange(T), jnp.arange(T)]  # g_t^i(x_{t,k}^i)
    bad = jnp.any(dist < 0) | jnp.any(own > jnp.sqrt(jnp.finfo(dt).eps)) | ~jnp.all(jnp.isfinite(g_stay))
    g_stay = eqx.error_if(
        g_stay, bad,
        "`strategies` must lie in the probe sets: x >= game.lower and g_t^i(x_t) <= 0 (finite).")
    eps = jnp.asarray(epsilon)
    if eps.ndim != 0:
        raise ValueError(f"`epsilon` must be a scalar (vmap over radii); got shape {eps.shape}.")
    eps = eps.astype(dt)
    eps = eqx.error_if(eps, ~(eps >= 0) | ~jnp.isfinite(eps),
                       "`epsilon` (the Wasserstein radius) must be finite and >= 0.")

    def edge_fn(kappa):
        stay = -g_stay
        move = -g_low[None, :, None, :] - kappa * dist[..., None]
        return jnp.maximum(stay, move), jnp.where(move > stay, dist[..., None], 0.0)

    d = dist[..., None]
    slope = jnp.where(d > 0, (g_stay - g_low[None, :, None, :]) / jnp.where(d > 0, d, 1.0), 0.0)
    kmax = jnp.maximum(jnp.max(slope), 0.0)
    F0 = _relaxed_F(edge_fn(jnp.zeros((), dt))[0])
    hi = _kappa_hi(eps, kmax, F0)
    return _robust_core(edge_fn, eps, hi, cfg, tol, throw)


# ---------------------------------------------------------------------------------------------
# certificates from orders (the closure construction)


def certificate_from_orders(orders: Int[Array, "M T"], eta, G=1.0):
    r"""(u, lambda) with h_sigma <= h(psi, .) <= h_sigma + eta on every data set with g >= -G.

    Positions p = 0 (bottom) .. T-1 (top); gaps D_q = theta^{-q} with theta = 1 + G/eta; u(p) =
    D_1 + ... + D_p; lambda(p) = (u(top) - u(p))/eta below the top and D_{T-1}/G at the top; then
    c_st = (u_s - u_t)/lambda_t lies in [0, eta] when s is at or above t and is <= -G when s is
    below t. The numbers span theta^{T-1}: this is why certificates are carried as orders.
    Returns (u, lam), shape (M, T) each, rescaled so that min lambda = 1 per agent.
    """
    orders = jnp.asarray(orders)
    if orders.ndim != 2:
        raise ValueError(f"`orders` must have shape (M, T); got {orders.shape}.")
    M, T = orders.shape
    dt = jnp.result_type(float)
    eta = jnp.asarray(eta, dt)
    theta = 1.0 + G / eta
    q = jnp.arange(1, T, dtype=dt)
    D = theta ** (-q)  # D[q-1] = gap between positions q-1 and q
    u_pos = jnp.concatenate([jnp.zeros(1, dt), jnp.cumsum(D)])  # u(p), p = 0..T-1
    S = u_pos[-1] - u_pos
    lam_pos = S / eta
    if T > 1:
        lam_pos = lam_pos.at[-1].set(D[-1] / G)
    else:
        lam_pos = jnp.ones(1, dt)
    pos_top = jnp.argsort(orders, axis=-1)  # position from the top
    p = T - 1 - pos_top  # position from the bottom
    u, lam = u_pos[p], lam_pos[p]
    scale = jnp.min(lam, axis=-1, keepdims=True)
    return u / scale, lam / scale


# ---------------------------------------------------------------------------------------------
# separation oracle (19) and Algorithm 2


class Separation(eqx.Module):
    """Result of `separation_oracle` for one sample k.

    - `value`: sup_{Phi in Gamma} [h_U(Phi) - kappa d(Phi, Phi_k)].
    - `cv`: value - v_k (the constraint violation CV_k of eq. 19).
    - `agent`, `block`, `probe`: the maximising edge (i*, s*, t*) (first flat index on ties).
    - `point`: the moved bundle gamma* of block (i*, s*); `distance` = ||gamma* - x_{s*,k}^{i*}||.
    The maximiser Phi_k is the sample with block (i*, s*) replaced by `point`.
    """

    value: Array
    cv: Array
    agent: Array
    block: Array
    probe: Array
    point: Array
    distance: Array


def _separate(prices, sample, U, kappa, v, support):
    a, pts, dist = _edges_linear(prices, sample[None], kappa, support)
    a, pts, dist = a[0], pts[0], dist[0]
    masked = jnp.where(U, a, -jnp.inf)
    flat = jnp.argmax(masked.reshape(-1))
    i, s, t = jnp.unravel_index(flat, a.shape)
    m = masked.reshape(-1)[flat]
    value = jnp.maximum(m, 0.0)
    moved = m > 0
    return Separation(value=value, cv=value - v, agent=i, block=s, probe=t,
                      point=jnp.where(moved, pts[i, s, t], sample[i, s]),
                      distance=jnp.where(moved, dist[i, s, t], 0.0))


def separation_oracle(prices, sample, upper, kappa, v=0.0, *, support: Support = "triangle") -> Separation:
    r"""The separation problem (19) over Gamma for one sample, in closed form.

    sup_Phi [h_U(Phi) - kappa d(Phi, Phi_k)] = max(0, max_{(i,s,t) in U} [1 - rho(alpha_t^i;
    A_s^i, x_{s,k}^i, kappa)]); the maximiser moves one block only.

    **Arguments:** `prices` (M, T, k); `sample` (M, T, k) = Phi_k; `upper` (M, T, T) bool,
    U[i, s, t] = "s at or above t" (all True = ties, u = 0; see `upper_mask`); `kappa` >= 0;
    `v` = v_k.
    """
    return _separation_oracle(jnp.asarray(prices), jnp.asarray(sample), jnp.asarray(upper),
                              jnp.asarray(kappa), jnp.asarray(v), support)


@eqx.filter_jit
def _separation_oracle(prices, sample, upper, kappa, v, support):
    prices, samples, kappa = _check_linear(prices, sample[None], kappa, support)
    M, T, _ = prices.shape
    if upper.shape != (M, T, T) or upper.dtype != jnp.bool_:
        raise ValueError(f"`upper` must be a boolean array of shape (M, T, T) = {(M, T, T)}; got "
                         f"{upper.shape} {upper.dtype}.")
    return _separate(prices, samples[0], upper, kappa, jnp.asarray(v, prices.dtype), support)


class ExchangeSolution(eqx.Module):
    """Result of `exchange_method` (Algorithm 2).

    **Fields:**

    - `value`: the worst-case expected loss of the returned certificate (orders), i.e. the line-13
      quantity sup_Q E_Q h(psi_hat) computed as a DRO value (min over kappa), not as the paper's
      max over Gamma_eps (a worst case, not an expectation). lower <= L_DR <= value <= upper.
    - `lower`: the last master value (a certified lower bound on L_DR).
    - `upper`: eps kappa_hat + mean_k (v_hat_k + CV_k^+) at the last iteration (feasible for (17)).
    - `kappa`, `orders`: the certificate (kappa_hat, per-agent orders top first).
    - `iterations`: separation rounds run (the paper's while-loop passes); masters = iterations - 1.
    - `max_cv`, `history_lower`, `history_upper`: per iteration n = 1..iterations (NaN after):
      max_k CV_k at the start of round n, and the bounds then known.
    - `result`: `RESULTS.successful` or `RESULTS.exchange_max_iterations`.
    """

    value: Array
    lower: Array
    upper: Array
    kappa: Array
    orders: Array
    iterations: Array
    max_cv: Array
    history_lower: Array
    history_upper: Array
    result: RESULTS


def _tol_n(delta, relative_tol, ub):
    """The stopping tolerance of round n: delta, and relative_tol * UB_n when that is finite."""
    if relative_tol is None:
        return delta
    rel = jnp.where(jnp.isfinite(relative_tol), relative_tol * ub, jnp.inf)
    return jnp.minimum(delta, jnp.where(jnp.isnan(rel), delta, rel))


def _master_closure(cut_b, cut_d, active, eps, hi, cfg: _SearchConfig):
    """Exact master (18) for one sample: min over orders and kappa of eps kappa + v, v >= every
    cut. Returns (lower bound, kappa, v, orders)."""
    neg = jnp.asarray(-jnp.inf, cut_b.dtype)

    def w_of(k):
        pieces = jnp.where(active[:, None, None, None], cut_b - k * cut_d[:, None, None, None], neg)
        j = jnp.argmax(pieces, axis=0)
        return jnp.max(pieces, axis=0), cut_d[j]

    def point(k):
        w, d = w_of(k)
        return _point_summary(w[None], d[None])

    lb, _, khat, vhat = _bnb(point, eps, hi, cfg.grid, cfg.rounds, cfg.keep, cfg.split)
    orders = _orders_from(w_of(khat)[0], vhat)
    return lb, khat, vhat, orders


def exchange_method(
    prices: Float[Array, "M T k"],
    samples: Float[Array, "N M T k"],
    epsilon,
    *,
    delta: float = 0.1,
    relative_tol: float | None = None,
    max_iterations: int = 32,
    support: Support = "triangle",
    master: Literal["closure", "milp"] = "closure",
    grid: int = 32,
    rounds: int = 16,
    keep: int = 4,
    split: int = 4,
    golden: int = 32,
    throw: bool = True,
) -> ExchangeSolution:
    r"""Algorithm 2 of the paper: the exchange (cutting-plane) method for (17).

    ```
    psi <- ties (u = 0: every edge counts), kappa <- 0, v <- 0, cuts <- {}
    for n = 1, 2, ..., max_iterations:
        for every sample k: (CV_k, Phi_k) <- separation (19) over Gamma at (psi, kappa, v_k)
        record max_k CV_k, LB_n = master value, UB_n = eps kappa + mean_k (v_k + CV_k^+)
        if max_k CV_k <= delta: stop                       # UB_n - LB_n <= delta
        add Phi_k to the cuts of sample k where CV_k > 0
        (psi, kappa, v) <- master (18) over the cuts       # an order per agent, kappa, v
    ```

    **Arguments:**

    - `prices`, `samples`, `epsilon`, `support`: as for `robust_pareto_gap`.
    - `delta`: the stopping tolerance on max_k CV_k (paper: 0.1); `-inf` never stops (exactly
      `max_iterations` rounds, e.g. for fixed-budget comparisons).
    - `relative_tol`: if set, also require max_k CV_k <= relative_tol * UB_n (a tolerance that
      scales with the value; the paper's absolute delta = 0.1 says nothing when L_DR ~ 1e-3).
    - `max_iterations`: cap on separation rounds (static; also the length of the histories).
    - `master`: "closure" (default; exact for one sample or identical samples, JAX, jit/vmap-able)
      or "milp" (exact for any samples via `scipy.optimize.milp`; a host loop, not jittable).
    - `grid`, `rounds`, `keep`, `split`, `golden`: kappa-search sizes of the closure master.
    - `throw`: raise when `max_iterations` is reached (pass False under vmap).
    """
    if master not in ("closure", "milp"):
        raise ValueError(f"`master` must be 'closure' or 'milp'; got {master!r}.")
    if max_iterations < 1:
        raise ValueError(f"`max_iterations` must be >= 1; got {max_iterations}.")
    cfg = _SearchConfig(grid=grid, rounds=rounds, keep=keep, split=split, golden=golden)
    if master == "milp":
        prices, samples, eps = _check_linear(prices, samples, epsilon, support)
        return _exchange_milp(prices, samples, eps, delta, relative_tol, max_iterations, support,
                              cfg, throw)
    rel = jnp.asarray(jnp.inf if relative_tol is None else relative_tol)  # inf = off (no recompile)
    return _exchange_closure(jnp.asarray(prices), jnp.asarray(samples), jnp.asarray(epsilon),
                             jnp.asarray(delta), rel, max_iterations, support, cfg, throw)


@eqx.filter_jit
def _exchange_closure(prices, samples, epsilon, delta, relative_tol, H, support, cfg, throw):
    prices, samples, eps = _check_linear(prices, samples, epsilon, support)
    samples = eqx.error_if(
        samples, jnp.any(samples != samples[:1]),
        "exchange_method(master='closure') needs one sample or identical samples (pure "
        "strategies); for distinct samples pass master='milp' (needs SciPy).")
    x = samples[0]
    dt = prices.dtype
    M, T, _ = prices.shape
    W = _nominal_linear(prices, x[None])[0]  # (M, T, T)
    kmax = jnp.max(jnp.sqrt(jnp.sum(prices**2, axis=-1)))
    hi = _kappa_hi(eps, kmax, jnp.ones((), dt))
    delta = jnp.asarray(delta, dt)
    nan = jnp.full(H, jnp.nan, dt)
    init = dict(
        n=jnp.array(0), done=jnp.array(False), U=jnp.ones((M, T, T), bool),
        orders=jnp.broadcast_to(jnp.arange(T), (M, T)), kappa=jnp.zeros((), dt),
        v=jnp.zeros((), dt), lb=jnp.zeros((), dt), ub=jnp.asarray(jnp.inf, dt),
        cut_b=jnp.zeros((H, M, T, T), dt), cut_d=jnp.zeros(H, dt), active=jnp.zeros(H, bool),
        ncut=jnp.array(0), cv=nan, hlb=nan, hub=nan,
    )

    def cond(c):
        return (~c["done"]) & (c["n"] < H)

    def body(c):
        sep = _separate(prices, x, c["U"], c["kappa"], c["v"], support)
        ub = eps * c["kappa"] + c["v"] + jnp.maximum(sep.cv, 0.0)
        n = c["n"]
        out = dict(c)
        out["cv"] = c["cv"].at[n].set(sep.cv)
        out["hlb"] = c["hlb"].at[n].set(c["lb"])
        out["hub"] = c["hub"].at[n].set(ub)
        out["ub"] = ub
        stop = sep.cv <= _tol_n(delta, relative_tol, ub)
        add = (~stop) & (sep.cv > 0)
        row = 1.0 - prices[sep.agent] @ sep.point  # (T,): 1 - <alpha_t^{i*}, gamma*>
        b = W.at[sep.agent, sep.block, :].set(row)
        j = jnp.minimum(c["ncut"], H - 1)
        out["cut_b"] = jnp.where(add, c["cut_b"].at[j].set(b), c["cut_b"])
        out["cut_d"] = jnp.where(add, c["cut_d"].at[j].set(sep.distance), c["cut_d"])
        out["active"] = jnp.where(add, c["active"].at[j].set(True), c["active"])
        out["ncut"] = c["ncut"] + add.astype(c["ncut"].dtype)
        lb, kappa, v, orders = _master_closure(out["cut_b"], out["cut_d"], out["active"], eps, hi, cfg)
        last = n + 1 >= H
        keep_old = stop | last
        out["lb"] = jnp.where(keep_old, c["lb"], jnp.maximum(lb, 0.0))
        out["kappa"] = jnp.where(keep_old, c["kappa"], kappa)
        out["v"] = jnp.where(keep_old, c["v"], v)
        out["orders"] = jnp.where(keep_old, c["orders"], orders)
        out["U"] = jnp.where(keep_old, c["U"], upper_mask(orders))
        out["done"] = stop
        out["n"] = n + 1
        return out

    c = jax.lax.while_loop(cond, body, init)
    # line 13, as a DRO value: min over kappa of the worst-case expectation of the certificate
    U = c["U"]
    G = jax.vmap(lambda k: eps * k + _masked_value(_edges_linear(prices, x[None], k, support)[0], U))
    val, kap = _golden(G, hi, cfg.golden, c["kappa"])
    value = jnp.minimum(val, c["ub"])
    result = RESULTS.where(c["done"], RESULTS.successful, RESULTS.exchange_max_iterations)
    sol = ExchangeSolution(value=value, lower=jnp.minimum(c["lb"], value), upper=c["ub"],
                           kappa=c["kappa"], orders=c["orders"], iterations=c["n"], max_cv=c["cv"],
                           history_lower=c["hlb"], history_upper=c["hub"], result=result)
    if throw:
        sol = result.error_if(sol, result != RESULTS.successful)
    return sol


# ---------------------------------------------------------------------------------------------
# the MILP master (optional SciPy extra) and the exact robust gap


def _require_scipy():
    try:
        import scipy.optimize as so  # noqa: F401
        import scipy.sparse as ss  # noqa: F401
    except ImportError as e:  # pragma: no cover - exercised only without scipy
        raise ImportError(
            "The exact MILP master needs SciPy (>= 1.9, with HiGHS): `pip install scipy` or "
            "`pip install jaxmd_rp[milp]`. Without it use master='closure' (one sample or "
            "identical samples) or the JAX bounds of `robust_pareto_gap`."
        ) from e
    return so, ss


def _not_traced(*xs):
    for x in xs:
        try:
            np.asarray(x)
        except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
            raise ValueError(
                "The MILP path (master='milp' / exact=True) runs SciPy on the host: call it "
                "outside jit/vmap (loop over instances in Python)."
            ) from None


def milp_master(cuts, eps, hi, N, M, T, *, mip_rel_gap=1e-10):
    """Solve the master (18) exactly as a MILP over orders (SciPy/HiGHS).

    `cuts[k]` is a list of (b, d) for sample k: b (M, T, T) = -g_t^i(gamma_{s,kj}^i) of the cut
    data set, d its transport distance. Variables: kappa in [0, hi], v_k >= 0, binaries
    x^i_{st} (s < t) = "s above t", with the transitivity rows 0 <= x_st + x_tr - x_sr <= 1 and the
    cut rows v_k + d kappa >= b[i, s, t] * [s at or above t] (big-M = b, valid since v, kappa d >= 0).
    Returns (dual bound, kappa, v (N,), orders (M, T) top first).
    """
    so, ss = _require_scipy()
    pairs = [(s, t) for s in range(T) for t in range(s + 1, T)]
    pid = {p: j for j, p in enumerate(pairs)}
    P = len(pairs)
    nx = M * P
    nvar = 1 + N + nx
    rows, cols, vals, lo, up = [], [], [], [], []
    r = 0

    def xcol(i, s, t):
        return 1 + N + i * P + pid[(s, t)]

    for k in range(N):
        pieces = {}
        for b, d in cuts[k]:
            b = np.asarray(b)
            for i in range(M):
                for s in range(T):
                    for t in range(T):
                        c = float(b[i, s, t])
                        if c <= 0.0:
                            continue
                        key = (i, s, t, c)
                        pieces[key] = min(pieces.get(key, np.inf), float(d))
        for (i, s, t, c), d in pieces.items():
            # v_k + d kappa - c y_st >= 0
            rows += [r, r]
            cols += [1 + k, 0]
            vals += [1.0, d]
            if s == t:
                lo.append(c)
            elif s < t:
                rows.append(r)
                cols.append(xcol(i, s, t))
                vals.append(-c)
                lo.append(0.0)
            else:  # y_st = 1 - x_ts
                rows.append(r)
                cols.append(xcol(i, t, s))
                vals.append(c)
                lo.append(c)
            up.append(np.inf)
            r += 1
    for i in range(M):
        for s in range(T):
            for t in range(s + 1, T):
                for q in range(t + 1, T):
                    rows += [r, r, r]
                    cols += [xcol(i, s, t), xcol(i, t, q), xcol(i, s, q)]
                    vals += [1.0, 1.0, -1.0]
                    lo.append(0.0)
                    up.append(1.0)
                    r += 1
    c = np.zeros(nvar)
    c[0] = float(eps)
    c[1:1 + N] = 1.0 / N
    integrality = np.zeros(nvar)
    integrality[1 + N:] = 1
    lb = np.zeros(nvar)
    ub = np.concatenate([[float(hi)], np.full(N, np.inf), np.ones(nx)])
    cons = []
    if r:
        A = ss.csr_matrix((vals, (rows, cols)), shape=(r, nvar))
        cons = [so.LinearConstraint(A, np.asarray(lo), np.asarray(up))]
    import warnings

    with warnings.catch_warnings():  # HiGHS tolerances are passed to HiGHS verbatim (a warning)
        warnings.simplefilter("ignore", RuntimeWarning)
        res = so.milp(c, integrality=integrality, bounds=so.Bounds(lb, ub), constraints=cons,
                      options={"mip_rel_gap": mip_rel_gap, "presolve": True,
                               "primal_feasibility_tolerance": 1e-10,
                               "mip_feasibility_tolerance": 1e-10})
    if res.x is None:  # pragma: no cover - the master is always feasible
        raise RuntimeError(f"MILP master failed: {res.message}")
    z = res.x
    bound = getattr(res, "mip_dual_bound", None)
    if bound is None or not np.isfinite(bound):
        bound = res.fun
    orders = np.zeros((M, T), int)
    for i in range(M):
        wins = np.zeros(T)
        for (s, t) in pairs:
            above = z[xcol(i, s, t)] > 0.5
            wins[s if above else t] += 1
        orders[i] = np.argsort(-wins, kind="stable")
    return float(min(bound, res.fun)), float(z[0]), np.maximum(z[1:1 + N], 0.0), orders


_separate_batch = jax.jit(
    jax.vmap(_separate, in_axes=(None, 0, None, None, 0, None)), static_argnums=(5,)
)


@eqx.filter_jit
def _certificate_value(prices, samples, eps, U, hi, kappa0, support, golden):
    """sup_Q E_Q h_U = min_kappa eps kappa + mean_k sup_Phi [h_U - kappa d] (convex in kappa)."""
    G = jax.vmap(lambda k: eps * k + _masked_value(_edges_linear(prices, samples, k, support)[0], U))
    return _golden(G, hi, golden, kappa0)


def _exchange_milp(prices, samples, eps, delta, relative_tol, H, support, cfg, throw):
    _not_traced(prices, samples, eps)
    _require_scipy()
    P = np.asarray(prices)
    X = np.asarray(samples)
    e = float(eps)
    N, M, T, _ = X.shape
    W = np.asarray(_nominal_linear(prices, samples))  # (N, M, T, T)
    kmax = float(np.max(np.linalg.norm(P, axis=-1)))
    hi = min(kmax, 1.0 / e) if e > 0 else kmax
    U = np.ones((M, T, T), bool)
    orders = np.tile(np.arange(T), (M, 1))
    kappa, v, lb = 0.0, np.zeros(N), 0.0
    cuts = [[] for _ in range(N)]
    hist_cv, hist_lb, hist_ub = [], [], []
    done = False
    ub = np.inf
    for n in range(H):
        sep = _separate_batch(prices, samples, jnp.asarray(U), jnp.asarray(kappa, prices.dtype),
                              jnp.asarray(v, prices.dtype), support)
        cv = np.asarray(sep.cv)
        ub = e * kappa + float(np.mean(v + np.maximum(cv, 0.0)))
        hist_cv.append(float(cv.max()))
        hist_lb.append(lb)
        hist_ub.append(ub)
        tol = delta if relative_tol is None else min(delta, relative_tol * ub)
        if cv.max() <= tol:
            done = True
            break
        if n + 1 >= H:
            break
        ag, bl = np.asarray(sep.agent), np.asarray(sep.block)
        pts, dist = np.asarray(sep.point), np.asarray(sep.distance)
        fresh = False
        for k in range(N):
            if cv[k] > 0:
                b = W[k].copy()
                b[ag[k], bl[k], :] = 1.0 - P[ag[k]] @ pts[k]
                d = float(dist[k])
                dup = any(dd == d and np.array_equal(bb, b) for bb, dd in cuts[k])
                if not dup:
                    cuts[k].append((b, d))
                    fresh = True
        if not fresh:  # stalled at the MILP solver's feasibility tolerance (~1e-7)
            break
        lb_new, kappa, v, orders = milp_master(cuts, e, hi, N, M, T)
        lb = max(lb_new, 0.0)
        U = np.asarray(upper_mask(jnp.asarray(orders)))
    # the DRO value of the certificate (min over kappa; convex for fixed orders)
    Uj = jnp.asarray(U)
    val, _ = _certificate_value(prices, samples, eps, Uj, jnp.asarray(hi, prices.dtype),
                                jnp.asarray(kappa, prices.dtype), support, cfg.golden)
    value = min(float(val), ub)
    pad = lambda h: jnp.asarray(np.concatenate([h, np.full(H - len(h), np.nan)]), prices.dtype)  # noqa: E731
    result = RESULTS.successful if done else RESULTS.exchange_max_iterations
    sol = ExchangeSolution(
        value=jnp.asarray(value, prices.dtype), lower=jnp.asarray(min(lb, value), prices.dtype),
        upper=jnp.asarray(ub, prices.dtype), kappa=jnp.asarray(kappa, prices.dtype),
        orders=jnp.asarray(orders), iterations=jnp.asarray(len(hist_cv)), max_cv=pad(hist_cv),
        history_lower=pad(hist_lb), history_upper=pad(hist_ub), result=result)
    if throw and not done:
        raise RuntimeError(RESULTS[RESULTS.exchange_max_iterations])
    return sol


def _robust_exact(prices, samples, eps, support, tol, throw):
    """The exchange method with the exact MILP master, run to `tol` (default 1e-8 absolute; HiGHS
    is run with feasibility tolerances of 1e-10, so much tighter requests can stall)."""
    _not_traced(prices, samples, eps)
    tol_ = 1e-8 if tol is None else float(tol)
    H = 400
    ex = _exchange_milp(prices, samples, eps, tol_, None, H, support, _SearchConfig(), False)
    result = RESULTS.successful if ex.result == RESULTS.successful else RESULTS.robust_gap_inexact
    sol = RobustGap(value=ex.value, lower=ex.lower, upper=ex.value, kappa=ex.kappa,
                    orders=ex.orders, result=result)
    if throw and result != RESULTS.successful:
        raise RuntimeError(RESULTS[RESULTS.robust_gap_inexact] + " (exact=True: the exchange "
                           "method did not reach `tol`; pass a larger `tol`)")
    return sol


# ---------------------------------------------------------------------------------------------
# the design objective (Figure 5: Algorithm 2 inside Algorithm 1)


class RobustGapObjective(eqx.Module):
    """theta -> L_DR^eps(theta): Algorithm 1's lines 18-20 replaced by the robust gap (Figure 5).

    Same calling convention as `ParetoGapObjective`: `objective(theta, probes, key) -> scalar`
    (NaN where an equilibrium solve failed), so `spsa_minimise(objective, spsa, ...)` runs
    Algorithm 1 on the robust gap.

    **Arguments:**

    - `game`: a linear-budget game with `prices` and a closed-form `equilibrium(theta, probe)`
      (e.g. `games.BudgetGame`), or a scalar-action game solved by `solve_equilibrium` whose probe
      rows depend on each player's own action (e.g. `RiverPollution(probe_reading="own")`).
    - `epsilon`: the Wasserstein radius.
    - `num_samples`: N samples of each strategy (`game.sample_strategy`); `None` = the equilibrium.
    - `tremble`: for scalar-action games, shrink each sample towards `game.lower` by an independent
      factor (1 - tremble * u), u ~ U(0, 1) (genuinely mixed samples that stay in the probe set).
    - `bound`: which number to return: "value" (default, = "upper", attained by a certificate) or
      "lower".
    - `solver`, `max_steps`, `tol`: for `solve_equilibrium`; `support`, `rounds`, `golden`: for
      the robust gap (smaller `rounds` is faster inside SPSA).
    """

    game: AbstractGame
    epsilon: float
    num_samples: int | None = eqx.field(static=True, default=None)
    tremble: float = 0.0
    bound: str = eqx.field(static=True, default="value")
    support: str = eqx.field(static=True, default="triangle")
    solver: object = None
    max_steps: int = eqx.field(static=True, default=100)
    tol: float | None = eqx.field(static=True, default=None)
    rounds: int = eqx.field(static=True, default=16)
    golden: int = eqx.field(static=True, default=32)

    def __check_init__(self):
        if self.bound not in ("value", "upper", "lower"):
            raise ValueError(f"`bound` must be 'value', 'upper' or 'lower'; got {self.bound!r}.")
        if self.num_samples is not None and self.num_samples < 1:
            raise ValueError(f"`num_samples` must be >= 1 or None; got {self.num_samples}.")
        _check_support(self.support)

    def observe(self, theta, probes, key):
        """(strategies (T, N, *action_shape), ok (T,))."""
        game = self.game
        if hasattr(game, "equilibrium"):
            x = jax.vmap(lambda p: game.equilibrium(theta, p))(probes)
            ok = jnp.ones(probes.shape[0], bool)
        else:
            from ._equilibrium import solve_equilibrium

            sols = jax.vmap(lambda p: solve_equilibrium(
                game, theta, p, self.solver, max_steps=self.max_steps, tol=self.tol, throw=False)
            )(probes)
            x, ok = sols.x, sols.result == RESULTS.successful
        N = 1 if self.num_samples is None else self.num_samples
        T = x.shape[0]
        keys = jax.random.split(jax.random.fold_in(key, 11), T)
        x = jax.vmap(lambda k, xt: game.sample_strategy(k, xt, N))(keys, x)
        if game.action_dim is None and not (isinstance(self.tremble, (int, float)) and self.tremble == 0):
            u = jax.random.uniform(jax.random.fold_in(key, 13), x.shape, x.dtype)
            lower = jnp.asarray(game.lower, x.dtype)
            x = lower + (x - lower) * (1.0 - self.tremble * u)
        return x, ok

    def gap(self, theta, probes, key=None) -> RobustGap:
        """The full `RobustGap` at `theta` (NaN value/bounds where an equilibrium solve failed)."""
        if key is None:
            key = jax.random.PRNGKey(0)
        x, ok = self.observe(theta, probes, key)
        sol = robust_pareto_gap_game(self.game, probes, x, self.epsilon, support=self.support,
                                     rounds=self.rounds, golden=self.golden, throw=False)
        nan = lambda z: jnp.where(jnp.all(ok), z, jnp.nan)  # noqa: E731
        return RobustGap(value=nan(sol.value), lower=nan(sol.lower), upper=nan(sol.upper),
                         kappa=nan(sol.kappa), orders=sol.orders, result=sol.result)

    def __call__(self, theta, probes=None, key=None) -> Array:
        sol = self.gap(theta, probes, key)
        return sol.lower if self.bound == "lower" else sol.value
