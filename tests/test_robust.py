"""Tests of the Wasserstein-robust Pareto gap, Algorithm 2, the A.2 game and `jaxmd-rp fig7`.

Expected values come from tests/reference/robust.py (numpy/SciPy: brute-force and golden-section
separation, an exchange method with its own MILP master, explicit (u, lambda) certificates), from
closed-form facts (a taxed agent leaves theta/(1+theta) of its budget unspent) or from
`pareto_gap`. Compilations are shared: most JAX calls go through one batched function of fixed
shape (`_gap_batch`), and the fig7 tests reuse one compiled experiment.
"""

import csv
import functools
import zlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import jaxmd_rp as rp
from jaxmd_rp.experiments import fig7
from tests.reference import robust as ref

M, T, N, B = 2, 3, 3, 100  # shape of the random instances, batch size of `_gap_batch`


def _rng(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def _instance(rng, distinct, line=False):
    """Random prices and samples inside the budget sets (on the budget line for `line`)."""
    p = rng.uniform(0.1, 1.1, (M, T, 2))
    share = rng.uniform(0.0, 1.0, (M, T))
    if line:
        sh = np.clip(share[None] + 0.15 * rng.normal(size=(N, M, T)), 0.0, 1.0)
        x = np.stack([sh / p[None, ..., 0], (1 - sh) / p[None, ..., 1]], -1)
    else:
        base = np.stack([share / p[..., 0], (1 - share) / p[..., 1]], -1)
        shrink = rng.uniform(0.0, 0.3, (N, M, T, 1)) * (rng.uniform(size=(N, M, T, 1)) < 0.5)
        x = base[None] * (1.0 - shrink * rng.uniform(size=(N, M, T, 2)))
    if not distinct:
        x = np.repeat(x[:1], N, 0)
    return p, x


@functools.cache
def _batch_fn(support):
    return jax.jit(jax.vmap(lambda p, x, e: rp.robust_pareto_gap(p, x, e, support=support,
                                                                  throw=False)))


def _gap_batch(P, X, E, support="triangle"):
    """robust_pareto_gap over a batch padded to B (one compilation per support)."""
    n = len(E)
    pad = lambda z: np.concatenate([z, np.repeat(z[-1:], B - n, 0)])  # noqa: E731
    sol = _batch_fn(support)(pad(np.asarray(P)), pad(np.asarray(X)), pad(np.asarray(E, float)))
    return jax.tree_util.tree_map(lambda z: np.asarray(z)[:n] if hasattr(z, "shape") else z, sol)


@pytest.fixture(scope="module")
def triangle_set():
    """100 instances (40 identical samples, 60 distinct) with radii in [1e-3, 0.5] and 0."""
    rng = _rng("triangle")
    inst = [_instance(rng, distinct=j >= 40) for j in range(B)]
    E = np.exp(rng.uniform(np.log(1e-3), np.log(0.5), B))
    E[::17] = 0.0
    P = np.stack([i[0] for i in inst])
    X = np.stack([i[1] for i in inst])
    return P, X, E, _gap_batch(P, X, E)


# ---------------------------------------------------------------------------------------------
# the A.2 game


def test_budget_game_demand_is_the_utility_maximiser():
    game = rp.games.BudgetGame()
    rng = _rng("demand")
    utils = [lambda b: b[0] + b[1], lambda b: b[0] + max(b[1], 0) ** 0.25,
             lambda b: max(b[0], 0) ** 0.25 + b[1]]
    for _ in range(20):
        probe = rng.uniform(0.1, 1.1, 6)
        theta = rng.uniform(0, 1, 3) * (rng.uniform() < 0.5)
        x = np.asarray(game.demand(jnp.asarray(probe), jnp.asarray(theta)))
        alpha = probe.reshape(3, 2) * (1 + theta)[:, None]
        for i in range(3):
            a = alpha[i]
            # monotone utilities: the demand is on the budget line; maximise over the share s
            line = lambda s: np.array([s / a[0], (1 - s) / a[1]])  # noqa: E731
            res = minimize_scalar(lambda s: -utils[i](line(s)), bounds=(0, 1), method="bounded",
                                  options={"xatol": 1e-12})
            best = max(-res.fun, utils[i](line(0.0)), utils[i](line(1.0)))
            assert utils[i](x[i]) >= best - 1e-9
            assert abs(a @ x[i] - 1.0) <= 1e-12  # spends the taxed budget
        # the designer's probe: a taxed agent leaves theta/(1+theta) of its budget unspent
        g = np.asarray(game.revealed_constraints(jnp.asarray(probe), jnp.asarray(x)))
        np.testing.assert_allclose(-g, theta / (1 + theta), atol=1e-12)


@pytest.mark.slow
def test_budget_game_data_are_rational_and_noise_stays_in_budget():
    game = rp.games.BudgetGame(noise=0.4)
    P, X = fig7.run_data(fig7.Fig7Config(num_samples=4, noise=0.4), np.arange(5))
    probes = rp.sample_probes(game, jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(0), 0), 0), 5)
    x = jax.vmap(game.demand)(probes)
    assert float(rp.pareto_gap(rp.probe_values(game, probes, x))) <= 1e-12  # GARP holds
    spend = np.einsum("rmtc,rnmtc->rnmt", np.asarray(P), np.asarray(X))
    assert np.all(spend <= 1 + 1e-12) and np.all(np.asarray(X) >= 0)
    assert np.ptp(np.asarray(X), axis=1).max() > 0.01  # genuinely mixed
    with pytest.raises(ValueError, match="noise"):
        rp.games.BudgetGame(noise=1.5)


# ---------------------------------------------------------------------------------------------
# separation


@pytest.mark.slow
def test_rho_matches_bruteforce():
    rng = _rng("rho")
    cases = []
    for j in range(60):
        a, beta = rng.uniform(0.1, 1.1, 2), rng.uniform(0.1, 1.1, 2)
        support = "line" if j % 4 == 3 else "triangle"
        w = rng.dirichlet([1, 1, 1])
        if support == "line" or j % 7 == 0:
            w = np.array([w[0], 1 - w[0], 0.0])  # on the budget line
        if j % 11 == 0:
            w = np.eye(3)[j % (2 if support == "line" else 3)]  # a vertex
        g = np.array([w[0] / beta[0], w[1] / beta[1]])
        kappa = [0.0, np.linalg.norm(a), rng.uniform(0, 3)][j % 3]
        cases.append((a, beta, g, kappa, support))
    for support in ("triangle", "line"):
        sub = [c for c in cases if c[4] == support]
        A, Bt, G, K = (np.stack([c[i] for c in sub]) for i in range(4))
        vals, pts = jax.vmap(lambda a, b, g, k: rp.budget_rho(a, b, g, k, support))(A, Bt, G, K)
        vals, pts = np.asarray(vals), np.asarray(pts)
        for (a, beta, g, kappa, _), v, x in zip(sub, vals, pts, strict=True):
            vb, _ = ref.rho_bruteforce(a, beta, g, kappa, support, n=101)
            assert v <= vb + 1e-12  # a minimum, so never above a feasible value
            assert vb <= v + 1e-7
            # the returned minimiser is feasible and attains the value
            assert np.all(x >= -1e-15) and beta @ x <= 1 + 1e-12
            if support == "line":
                assert abs(beta @ x - 1) <= 1e-12
            assert abs(a @ x + kappa * np.linalg.norm(x - g) - v) <= 1e-12


def test_separation_oracle_matches_reference_and_moves_one_block():
    rng = _rng("separation")
    for j in range(16):
        p, x = _instance(rng, distinct=False)
        x = x[0]
        orders = np.stack([rng.permutation(T) for _ in range(M)])
        U = np.asarray(rp.upper_mask(orders)) if j % 4 else np.ones((M, T, T), bool)
        kappa, v = [0.0, 0.3, 1.0, 5.0][j % 4], rng.uniform(0, 0.2)
        sep = rp.separation_oracle(p, x, U, kappa, v)
        a, _, _ = ref.edge_values(p, x[None], kappa)
        expect = max(0.0, float(np.max(np.where(U, a[0], -np.inf))))
        assert abs(float(sep.value) - expect) <= 1e-9
        assert abs(float(sep.cv) - (expect - v)) <= 1e-9
        # the maximiser: sample with block (i*, s*) moved; h_U(Phi) - kappa d attains the value
        Phi = x.copy()
        i, s = int(sep.agent), int(sep.block)
        Phi[i, s] = np.asarray(sep.point)
        d = np.linalg.norm(Phi - x, axis=-1).sum()
        assert abs(d - float(sep.distance)) <= 1e-12
        Wm = 1.0 - np.einsum("itc,isc->ist", p, Phi)
        h = max(0.0, float(np.max(np.where(U, Wm, -np.inf))))
        assert abs(h - kappa * d - float(sep.value)) <= 1e-9
        assert np.all(Phi >= -1e-15) and np.all(np.einsum("itc,itc->it", p, Phi) <= 1 + 1e-12)


# ---------------------------------------------------------------------------------------------
# the robust gap


@pytest.mark.slow
def test_bounds_bracket_exact_value(triangle_set):
    """>= 100 instances (identical and distinct samples) against the MILP exchange reference."""
    P, X, E, sol = triangle_set
    ok = (sol.result._value == rp.RESULTS.successful._value)
    wide = (sol.result._value == rp.RESULTS.robust_gap_bracket._value)
    assert np.all(ok | wide)
    assert np.all(np.asarray(sol.upper - sol.lower)[ok] <= 1e-6 * (1 + np.asarray(sol.upper)[ok]))
    widths = []
    for j in range(B):
        lb, ub, _ = ref.robust_gap_exchange(P[j], X[j], E[j], tol=1e-8)
        assert ub - lb <= 1e-6, (j, lb, ub)
        assert sol.lower[j] <= ub + 1e-7, (j, sol.lower[j], ub)
        assert sol.upper[j] >= lb - 1e-7, (j, sol.upper[j], lb)
        assert sol.lower[j] <= sol.upper[j] and sol.value[j] == sol.upper[j]
        if j < 40:  # identical samples: exact
            assert sol.upper[j] - sol.lower[j] <= 1e-9
            assert abs(sol.value[j] - 0.5 * (lb + ub)) <= 1e-6
        widths.append(sol.upper[j] - sol.lower[j])
    assert max(widths[40:]) > 1e-6  # the distinct instances include non-trivial brackets


@pytest.mark.slow
def test_line_support_brackets_exact_value():
    rng = _rng("line")
    inst = [_instance(rng, distinct=j >= 6, line=True) for j in range(12)]
    P = np.stack([i[0] for i in inst])
    X = np.stack([i[1] for i in inst])
    E = np.exp(rng.uniform(np.log(1e-3), np.log(1.0), 12))
    sol = _gap_batch(P, X, E, support="line")
    tri = _gap_batch(P, X, E)
    for j in range(12):
        lb, ub, _ = ref.robust_gap_exchange(P[j], X[j], E[j], support="line", tol=1e-9)
        assert sol.lower[j] <= ub + 1e-7 and sol.upper[j] >= lb - 1e-7
        assert tri.lower[j] >= sol.lower[j] - 1e-7  # a smaller support can only lower the gap


@pytest.mark.slow
def test_exact_milp_path(triangle_set):
    P, X, E, sol = triangle_set
    for j in (41, 57, 77):
        ex = rp.robust_pareto_gap(P[j], X[j], E[j], exact=True)
        lb, ub, _ = ref.robust_gap_exchange(P[j], X[j], E[j], tol=1e-9)
        assert abs(float(ex.value) - 0.5 * (lb + ub)) <= 1e-6
        assert sol.lower[j] - 1e-7 <= float(ex.value) <= sol.upper[j] + 1e-7


@pytest.mark.slow
def test_closure_theorem_with_explicit_certificates(triangle_set):
    """Orders suffice: every explicit psi = (u, lambda) does no better than `lower`, and the
    psi_eta built from the returned orders is within eta of `upper` (reference DRO values)."""
    P, X, E, sol = triangle_set
    rng = _rng("closure")
    for j in (3, 45):
        u, lam = rng.normal(size=(M, T)), rng.uniform(0.2, 2.0, (M, T))
        assert ref.robust_value_psi(u, lam, P[j], X[j], E[j]) >= sol.lower[j] - 1e-7
        for eta in (0.01,):
            u, lam = (np.asarray(z) for z in rp.certificate_from_orders(sol.orders[j], eta))
            assert np.all(lam >= 1 - 1e-12)
            val = ref.robust_value_psi(u, lam, P[j], X[j], E[j])
            assert val <= sol.upper[j] + eta + 1e-7
            assert val >= sol.lower[j] - 1e-7
    # pointwise: h_sigma <= h(psi_eta, Phi) <= h_sigma + eta on random data sets
    T4 = 5
    for _ in range(30):
        orders = np.stack([rng.permutation(T4) for _ in range(2)])
        p = rng.uniform(0.1, 1.1, (2, T4, 2))
        w = rng.dirichlet([1, 1, 1], (2, T4))
        Phi = np.stack([w[..., 0] / p[..., 0], w[..., 1] / p[..., 1]], -1)
        hs = ref.h_orders(orders, p, Phi)
        for eta in (0.5, 0.05):
            u, lam = (np.asarray(z) for z in rp.certificate_from_orders(orders, eta))
            h = ref.loss_h(u, lam, p, Phi)
            assert hs - 1e-12 <= h <= hs + eta + 1e-9


@pytest.mark.slow
def test_eps_zero_recovers_pareto_gap_and_monotone_in_eps():
    rng = _rng("monotone")
    eps = np.array([0.0, 1e-9, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.3, 1.0, 10.0])
    base = [_instance(rng, distinct=j >= 7) for j in range(10)]
    P = np.repeat(np.stack([b[0] for b in base]), len(eps), 0)
    X = np.repeat(np.stack([b[1] for b in base]), len(eps), 0)
    sol = _gap_batch(P, X, np.tile(eps, 10))
    val = sol.value.reshape(10, len(eps))
    lo = sol.lower.reshape(10, len(eps))
    for j in range(10):
        p, x = base[j]
        values = np.einsum("itc,nisc->nits", p, x) - 1.0  # values[n, i, t, s] = g_t^i(x_{s,n})
        if j < 7:  # identical samples: eps = 0 is the Pareto gap of eq. (10)
            L = float(rp.pareto_gap(jnp.asarray(values[0])))
            assert abs(val[j, 0] - L) <= 1e-12 and abs(val[j, 1] - L) <= 1e-8
            assert np.all(np.diff(val[j]) >= -1e-10)  # non-decreasing in eps
            # and concave (a minimum of concave envelopes): second differences on the grid
            e3, v3 = eps[2:], val[j, 2:]
            slopes = np.diff(v3) / np.diff(e3)
            assert np.all(np.diff(slopes) <= 1e-6)
        else:  # distinct samples: eps = 0 is the mean loss over the joint samples, >= (13)
            L13 = float(rp.pareto_gap(jnp.asarray(values.mean(0))))
            assert lo[j, 0] >= L13 - 1e-12
            assert np.all(np.diff(lo[j]) >= -1e-10) or np.all(np.diff(val[j]) >= -1e-10)
        assert np.all(val[j] <= 1 + 1e-12) and abs(val[j, -1] - 1.0) <= 1e-12  # h <= 1, saturates


@pytest.mark.slow
def test_vmap_matches_loop(triangle_set):
    P, X, E, sol = triangle_set
    for j in (0, 39, 40, 99):
        s = rp.robust_pareto_gap(P[j], X[j], E[j], throw=False)
        for f in ("value", "lower", "upper"):
            np.testing.assert_allclose(float(getattr(s, f)), getattr(sol, f)[j], rtol=0, atol=1e-12)
        # the minimising kappa is found by golden section: equal up to its resolution
        np.testing.assert_allclose(float(s.kappa), sol.kappa[j], rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(np.asarray(s.orders), sol.orders[j])


def test_bad_input_errors():
    """Structure is refused when traced; invalid values of concrete inputs raise a ValueError
    naming the argument before anything is compiled (traced inputs, throw=False and batches:
    tests/corpus/robust.py)."""
    p, x = _instance(_rng("bad input"), distinct=True)
    with pytest.raises(ValueError, match="`samples` is empty"):
        rp.robust_pareto_gap(p, x[:0], 0.1)
    with pytest.raises(ValueError, match="`samples` must have shape"):
        rp.robust_pareto_gap(p, x[:, :, :2], 0.1)
    with pytest.raises(ValueError, match="`prices` must have shape"):
        rp.robust_pareto_gap(p[0], x, 0.1)
    with pytest.raises(ValueError, match="k = 1 or 2"):
        rp.robust_pareto_gap(np.ones((M, T, 3)), np.zeros((N, M, T, 3)), 0.1)
    with pytest.raises(ValueError, match="`epsilon` must be a scalar"):
        rp.robust_pareto_gap(p, x, np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="runs SciPy on the host"):
        jax.jit(lambda e: rp.robust_pareto_gap(p, x, e, exact=True).value)(0.1)
    for eps in (-0.1, np.nan, np.inf):
        with pytest.raises(ValueError, match="`epsilon`.*NaN, infinite or negative"):
            rp.robust_pareto_gap(p, x, eps)
        with pytest.raises(ValueError, match="`epsilon`.*NaN, infinite or negative"):
            rp.exchange_method(p, x, eps, master="milp")
    with pytest.raises(ValueError, match="every sample must lie in its budget set"):
        rp.robust_pareto_gap(p, x * 3.0, 0.1)
    with pytest.raises(ValueError, match="`prices` must be finite and > 0"):
        rp.robust_pareto_gap(-p, x, 0.1)
    with pytest.raises(ValueError, match="master='milp'"):
        rp.exchange_method(p, x, 0.1)


@pytest.mark.slow
def test_one_bad_element_leaves_the_batch_untouched(triangle_set):
    """vmap with throw=False: a bad element gets NaN outputs and its own code; the healthy
    elements are bit-identical to the batch without bad elements."""
    P, X, E, sol = triangle_set
    P2, X2, E2 = P.copy(), X.copy(), E.copy()
    E2[5], P2[7, 0, 1, 0], X2[9, 0, 1, 1, 0] = np.nan, -1.0, 1e3
    X2[11, 0, 0, 0, 0] = np.nan
    bad = _gap_batch(P2, X2, E2)
    names = bad.result.names()
    assert names[5] == "invalid_epsilon"
    assert names[7] == names[9] == names[11] == "invalid_samples"
    flagged = np.zeros(B, bool)
    flagged[[5, 7, 9, 11]] = True
    for f in ("value", "lower", "upper", "kappa"):
        assert np.all(np.isnan(getattr(bad, f)[flagged]))
        np.testing.assert_array_equal(getattr(bad, f)[~flagged], getattr(sol, f)[~flagged])
    assert np.all(bad.orders[flagged] == -1)
    np.testing.assert_array_equal(bad.orders[~flagged], sol.orders[~flagged])
    np.testing.assert_array_equal(names[~flagged], sol.result.names()[~flagged])


# ---------------------------------------------------------------------------------------------
# Algorithm 2


@pytest.fixture(scope="module")
def fig7_small():
    return fig7.run_fig7(fig7.Fig7Config(runs=10), progress=False)


@pytest.mark.slow
def test_exchange_method_within_delta_of_robust_gap(fig7_small):
    res = fig7_small
    delta = res.config.delta
    assert np.all(res.converged)
    assert np.all(np.abs(res.value - res.exact) <= delta + 1e-9)
    assert np.all(res.upper - res.lower <= delta + 1e-9)
    assert np.all(res.lower <= res.exact_upper + 1e-9) and np.all(res.upper >= res.exact_lower - 1e-9)
    assert np.all(res.value <= res.upper + 1e-12) and np.all(res.value >= res.exact_lower - 1e-9)
    for e in range(len(res.config.epsilons)):
        for r in range(res.config.runs):
            n = res.iterations[e, r]
            cv = res.max_cv[e, r]
            assert n >= 2 and abs(cv[0] - 1.0) <= 1e-12  # ties and kappa = 0: first CV is 1
            assert np.all(cv[: n - 1] > delta) and cv[n - 1] <= delta  # the stopping rule
            assert np.all(np.isnan(cv[n:]))
            lb = res.hist_lower[e, r, :n]
            assert np.all(np.diff(lb) >= -1e-12)  # cuts only accumulate
            assert np.all(lb <= res.exact_upper[e, r] + 1e-9)
            assert np.all(res.hist_upper[e, r, :n] >= res.exact_lower[e, r] - 1e-9)
    # eps = 10 (support diameter ~ 10): the adversary moves a bundle to the origin; L_DR = 1
    np.testing.assert_allclose(res.exact[-1], 1.0, atol=1e-12)


@pytest.mark.slow
def test_exchange_method_tight_tolerance_and_relative_tol(fig7_small):
    P, X = fig7.run_data(fig7_small.config, np.arange(2))
    exact = fig7_small.exact[:, :2]
    for e, eps in enumerate(fig7_small.config.epsilons[:2]):
        ex = rp.exchange_method(P[0], X[0], eps, delta=1e-6)
        assert abs(float(ex.value) - exact[e, 0]) <= 1e-6
        assert float(ex.upper) - float(ex.lower) <= 1e-6 + 1e-9
    # relative tolerance (same compilation: relative_tol is always an array inside)
    ex = rp.exchange_method(P[0], X[0], 0.001, relative_tol=0.01)
    assert float(ex.upper) - float(ex.lower) <= 0.01 * float(ex.upper) + 1e-9
    assert int(ex.iterations) > int(fig7_small.iterations[0, 0])
    # delta = -inf never stops: exactly max_iterations rounds, then the result code says so
    capped = rp.exchange_method(P[0], X[0], 0.001, delta=-np.inf, throw=False)
    assert capped.result == rp.RESULTS.exchange_max_iterations and int(capped.iterations) == 32
    assert float(capped.lower) <= exact[0, 0] + 1e-9 <= float(capped.upper) + 2e-9
    with pytest.raises(eqx.EquinoxRuntimeError, match="max_iterations"):
        rp.exchange_method(P[0], X[0], 0.001, delta=-np.inf)


@pytest.mark.slow
def test_exchange_method_milp_master_distinct_samples(triangle_set):
    P, X, E, sol = triangle_set
    for j in (50, 63, 88):
        ex = rp.exchange_method(P[j], X[j], E[j], master="milp", delta=0.02)
        lb, ub, _ = ref.robust_gap_exchange(P[j], X[j], E[j], tol=1e-9)
        assert ex.result == rp.RESULTS.successful
        assert abs(float(ex.value) - 0.5 * (lb + ub)) <= 0.02 + 1e-7
        assert float(ex.lower) <= ub + 1e-7 and float(ex.upper) >= lb - 1e-7
        n = int(ex.iterations)
        assert np.asarray(ex.max_cv)[n - 1] <= 0.02
    with pytest.raises(ValueError, match="master='milp'"):
        rp.exchange_method(P[50], X[50], 0.1)


@pytest.mark.slow
def test_cli_fig7_writes_documented_outputs(tmp_path, capsys, fig7_small):
    from jaxmd_rp import cli

    assert cli.main(["fig7", "--runs", "10", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Paper claim 'delta-optimal within 8 iterations on average'" in out
    with open(tmp_path / "fig7_runs.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][:6] == ["epsilon", "run", "iterations", "value", "lower", "upper"]
    assert len(rows) == 1 + 3 * 10
    its = np.array([int(r[2]) for r in rows[1:]]).reshape(3, 10)
    np.testing.assert_array_equal(its, fig7_small.iterations)  # same runs, same seed
    with open(tmp_path / "fig7.csv") as f:
        table = list(csv.DictReader(f))
    for col in ("epsilon", "iteration", "mean_max_cv", "std_max_cv", "share_running"):
        assert col in table[0]
    first = [r for r in table if r["iteration"] == "1"]
    assert len(first) == 3 and all(float(r["share_running"]) == 1.0 for r in first)
    assert (tmp_path / "fig7.png").stat().st_size > 10_000


# ---------------------------------------------------------------------------------------------
# the game API and Figure 5


class _ScalarBudget(rp.AbstractGame):
    """Scalar actions with linear budgets g^i(x) = a_i x_i - 1 (probe = the prices a)."""

    num_agents = 2
    action_dim = None
    theta_dim = 1
    probe_dim = 2

    def utilities(self, theta, x):
        return x

    def constraints(self, probe, x):
        return probe * x - 1.0

    def revealed_constraints(self, probe, x):
        return probe * x - 1.0


@pytest.mark.slow
def test_game_api_scalar_path_matches_linear_k1():
    rng = _rng("scalar")
    game = _ScalarBudget()
    probes = rng.uniform(0.1, 1.1, (T, 2))
    x = rng.uniform(0.3, 1.0, (T, 2, 2)) / probes[:, None, :]  # (T, N=2, M)
    for eps in (0.0, 0.2):
        a = rp.robust_pareto_gap_game(game, probes, x, eps)
        b = rp.robust_pareto_gap(np.transpose(probes)[..., None],
                                 np.transpose(x, (1, 2, 0))[..., None], eps)
        assert abs(float(a.lower) - float(b.lower)) <= 1e-9
        assert abs(float(a.upper) - float(b.upper)) <= 1e-9


@pytest.mark.slow
def test_figure5_algorithm1_with_robust_objective():
    game = rp.games.BudgetGame(noise=0.05)
    lo, hi = game.theta_bounds
    keys = rp.path_keys(jax.random.PRNGKey(0), 2)
    probes = jax.vmap(lambda k: rp.sample_probes(game, k, 3))(keys)
    obj = rp.RobustGapObjective(game, epsilon=0.01, num_samples=2)
    spsa = rp.SPSA(lower=lo, upper=hi, a=1.0, c=0.2, stop_tol=None)
    theta0 = jnp.full((2, 3), 0.4)
    tr = rp.spsa_minimise(obj, spsa, theta0, probes, key=jax.random.PRNGKey(1), num_steps=4)
    v = np.asarray(tr.value)
    th = np.asarray(tr.theta[:-1]).max(-1)
    assert np.all(np.isfinite(v))
    # the tax leaves theta/(1+theta) of a budget unspent: even the nominal gap is at least that
    assert np.all(v >= th / (1 + th) - 1e-9)
    assert np.all(np.asarray(tr.theta[-1]).max(-1) < 0.4)  # SPSA lowers the taxes
    assert v[-1].mean() < v[0].mean()


class _ClosedFormScalar(rp.AbstractClosedFormGame):
    """Two players spend their whole budgets a_i x_i <= 1: x_i = 1/a_i; no equilibrium (NaN) when
    theta > 0.5."""

    num_agents = 2
    action_dim = None
    theta_dim = 1
    probe_dim = 2

    @property
    def probe_bounds(self):
        return jnp.full(2, 0.2), jnp.full(2, 1.0)

    def utilities(self, theta, x):
        return x

    def constraints(self, probe, x):
        return probe * x - 1.0

    def revealed_constraints(self, probe, x):
        return probe * x - 1.0

    def equilibrium(self, theta, probe):
        return jnp.where(theta[0] > 0.5, jnp.nan, 1.0 / probe)


@pytest.mark.slow
def test_objective_observes_through_the_shared_key_streams():
    """The objective equals the robust gap of samples drawn by hand from the documented streams:
    split(fold_in(key, 11), T) for the samples, fold_in(key, 13) for the tremble."""
    key, T = jax.random.PRNGKey(5), 3
    game = rp.games.BudgetGame(noise=0.05)
    probes = rp.sample_probes(game, jax.random.PRNGKey(4), T)
    theta = jnp.array([0.1, 0.0, 0.2])
    obj = rp.RobustGapObjective(game, epsilon=0.01, num_samples=2)
    x = jax.vmap(lambda p: game.equilibrium(theta, p))(probes)
    keys = jax.random.split(jax.random.fold_in(key, 11), T)
    xs = jax.vmap(lambda k, xt: game.sample_strategy(k, xt, 2))(keys, x)
    ref = rp.robust_pareto_gap_game(game, probes, xs, 0.01, throw=False)
    assert float(obj(theta, probes, key)) == float(ref.value)
    with pytest.raises(ValueError, match="`key` is required: RobustGapObjective is random"):
        obj(theta, probes)

    game = _ClosedFormScalar()
    probes = rp.sample_probes(game, jax.random.PRNGKey(6), T)
    obj = rp.RobustGapObjective(game, epsilon=0.05, tremble=0.3)  # N = 1 sample, trembled
    x = (1.0 / probes)[:, None]  # (T, N = 1, M)
    u = jax.random.uniform(jax.random.fold_in(key, 13), x.shape, x.dtype)
    ref = rp.robust_pareto_gap_game(game, probes, x * (1.0 - 0.3 * u), 0.05, throw=False)
    assert float(obj(jnp.array([0.1]), probes, key)) == float(ref.value)
    assert ref.success and float(ref.value) > 0.0
    # an equilibrium that cannot be observed: NaN and its own code, not a number
    sol = obj.gap(jnp.array([0.9]), probes, key)
    assert sol.result == rp.RESULTS.observation_failed and np.isnan(float(sol.value))
    assert np.all(np.asarray(sol.orders) == -1)
    # nothing random (no samples, no tremble, default sampling): no key needed
    det = rp.RobustGapObjective(game, epsilon=0.05)
    assert not det.random
    np.testing.assert_allclose(float(det(jnp.array([0.1]), probes)),
                               float(rp.robust_pareto_gap_game(game, probes, x, 0.05,
                                                               throw=False).value),
                               rtol=0, atol=0)


def test_coupled_probe_rows_are_refused():
    """Rows that read other players' actions (the river game's shared reading) are refused, not
    answered: the Jacobian of the rows at the observed strategies has cross terms."""
    game = rp.games.RiverPollution(probe_reading="shared")
    probes = jnp.full((2, 3), 0.5) + jnp.arange(2.0)[:, None] * 0.2
    x = jnp.array([[1.5, 1.5, 1.5], [1.2, 1.0, 1.4]])  # feasible joint actions
    g = jax.vmap(game.revealed_constraints)(probes, x)
    assert np.all(np.asarray(g) <= 0.0)  # feasible data: only the coupling is wrong
    with pytest.raises(ValueError, match="d g\\^i / d x_j with j != i"):
        rp.robust_pareto_gap_game(game, probes, x, 0.1)
    own = rp.games.RiverPollution(probe_reading="own")
    J = jax.jacfwd(lambda z: own.revealed_constraints(probes[0], z))(x[0])
    assert np.count_nonzero(np.asarray(J) - np.diag(np.diag(np.asarray(J)))) == 0
