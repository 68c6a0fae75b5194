"""Games with known answers: Cournot pollution tax, public goods with a subsidy, inspection game.

Every equilibrium is checked against closed forms written out here (not taken from the game
classes) and against independent numpy/SciPy computations. To keep compile time down, batched
equilibria come from `ParetoGapObjective.observe` (one compiled vmapped solve per game, reused for
every theta).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linprog, minimize, minimize_scalar

import jaxmd_rp as rp

KEY = jax.random.PRNGKey(0)
T = 6


def _observe(obj, theta, probes):
    x, ok = obj.observe(jnp.array([float(theta)]), jnp.asarray(probes), KEY)
    assert bool(jnp.all(ok))
    return np.asarray(x)


# ------------------------------------------------------------------------------------- Cournot
# a = 10, b = 1, c = (1, 2), D(Q) = Q^2 / 2; caps in [0.5, 5]
COURNOT = rp.games.CournotPollution()
A, B, C, D1, D2 = 10.0, 1.0, np.array([1.0, 2.0]), 0.0, 1.0
CAPS = np.array([[5.0, 5.0], [1.0, 5.0], [5.0, 0.8], [0.7, 0.6], [2.0, 3.0], [4.0, 1.5]])
OBJ_C = rp.ParetoGapObjective(COURNOT)


def cournot_best_response_iteration(theta, caps, c=C):
    """Independent reference: Jacobi best responses q_i = clip((a-theta-c_i-b q_j)/2b, 0, cap_i)
    (a contraction with factor 1/2)."""
    q = np.zeros(2)
    for _ in range(200):
        q = np.clip((A - theta - c - B * q[::-1]) / (2 * B), 0.0, caps)
    return q


def true_welfare(q, c=C):
    Q = np.sum(q)
    return A * Q - B * Q**2 / 2 - np.dot(c, q) - (D1 * Q + D2 * Q**2 / 2)


def test_cournot_equilibria():
    for theta in (-3.0, 0.0, 2.125, 6.0):
        x = _observe(OBJ_C, theta, CAPS)
        ref = np.stack([cournot_best_response_iteration(theta, caps) for caps in CAPS])
        np.testing.assert_allclose(x, ref, atol=1e-10)
        # interior closed form q_i = (a - theta - 3 c_i + sum c)/(3b) at the non-binding probe
        if theta < 6:
            np.testing.assert_allclose(x[0], (A - theta - 3 * C + C.sum()) / (3 * B), atol=1e-10)
    np.testing.assert_allclose(COURNOT.cournot_output(jnp.array([0.0])), [10 / 3, 7 / 3])


def test_cournot_optimal_tax():
    # Barnett (1980): theta* = D'(Q*) - b Q*/n with Q* = (a - c_bar - d1)/(b + d2)
    Q_star = (A - C.mean() - D1) / (B + D2)
    theta_star = D1 + D2 * Q_star - B * Q_star / 2
    assert theta_star == pytest.approx(2.125)
    np.testing.assert_allclose(COURNOT.optimal_tax(), [theta_star], atol=1e-12)
    marginal_damage = D1 + D2 * Q_star
    assert theta_star < marginal_damage - 1.0  # the tax is well below marginal damage

    # design: minimise the welfare loss W_FB - W(q(theta)) over theta by a scalar search
    uncapped = np.tile([[5.0, 5.0]], (T, 1))
    first_best = true_welfare(np.asarray(COURNOT.social_optimum()))
    res = minimize_scalar(lambda th: first_best - true_welfare(_observe(OBJ_C, th, uncapped)[0]),
                          bounds=(-5.0, 8.0), method="bounded", options={"xatol": 1e-9})
    assert res.x == pytest.approx(theta_star, abs=1e-6)
    q = _observe(OBJ_C, theta_star, uncapped)[0]
    assert np.sum(q) == pytest.approx(Q_star, abs=1e-10)
    # unequal costs: the uniform tax cannot reach the first best (only firm 1 should produce)
    assert res.fun > 0.1

    # first-order condition through the implicit derivative of the equilibrium
    def welfare_at(th):
        sol = rp.solve_equilibrium(COURNOT, jnp.reshape(th, (1,)), jnp.array([5.0, 5.0]))
        return COURNOT.welfare(None, sol.x)

    dW = jax.jit(jax.grad(welfare_at))
    assert abs(float(dW(theta_star))) < 1e-9
    assert float(dW(theta_star - 0.5)) > 0 > float(dW(theta_star + 0.5))
    assert float(welfare_at(theta_star)) == pytest.approx(true_welfare(q), abs=1e-10)


def test_cournot_symmetric_costs_reach_first_best():
    c = np.array([1.5, 1.5])
    game = rp.games.CournotPollution(costs=jnp.asarray(c))
    theta_star = (A - 1.5) / 2 * (1 - 1 / 2)  # Q* (d2 - b/n) with Q* = (a - c)/(b + d2)
    np.testing.assert_allclose(game.optimal_tax(), [theta_star], atol=1e-12)
    obj = rp.ParetoGapObjective(game)
    q = _observe(obj, theta_star, np.tile([[5.0, 5.0]], (T, 1)))[0]
    np.testing.assert_allclose(q, cournot_best_response_iteration(theta_star, 5.0, c), atol=1e-10)
    fb = true_welfare(np.asarray(game.social_optimum()), c)
    assert true_welfare(q, c) == pytest.approx(fb, abs=1e-10)


def test_cournot_social_optimum_against_scipy():
    for caps in CAPS:
        q = np.asarray(COURNOT.social_optimum(None, jnp.asarray(caps)))
        assert float(COURNOT.welfare(None, jnp.asarray(q))) == pytest.approx(true_welfare(q))
        ref = minimize(lambda v: -true_welfare(v), x0=np.full(2, 0.1), method="L-BFGS-B",
                       bounds=[(0, k) for k in caps], options={"ftol": 1e-15, "gtol": 1e-12})
        assert true_welfare(q) >= -ref.fun - 1e-9
        np.testing.assert_allclose(q, ref.x, atol=1e-5)
    np.testing.assert_allclose(COURNOT.social_optimum(), [4.5, 0.0], atol=1e-12)


def test_cournot_pareto_gap_and_revealed_preferences():
    # L = max(0, largest unspent share of a cap): with 1-D own caps no longer cycle can beat a
    # self-loop, since q strictly decreases along a cycle whose bottleneck exceeds every slack
    for theta in (0.0, 2.125, 6.0):
        x = _observe(OBJ_C, theta, CAPS)
        L = float(OBJ_C(jnp.array([theta]), jnp.asarray(CAPS), KEY))
        assert np.isfinite(L)
        assert L == pytest.approx(max(0.0, np.max(1 - x / CAPS)), abs=1e-12)
    # a subsidy large enough that every cap binds: the data are consistent, L = 0 whatever theta*
    binding = CAPS.clip(max=3.9)
    L = float(OBJ_C(jnp.array([-5.0]), jnp.asarray(binding), KEY))
    assert L == pytest.approx(0.0, abs=1e-12)


def test_cournot_vmap_matches_loop():
    thetas = jnp.array([[-2.0], [0.0], [1.0], [2.125], [4.0], [7.0]])
    probes = jnp.asarray(CAPS)
    solve = jax.vmap(lambda th, p: rp.solve_equilibrium(COURNOT, th, p, throw=False))
    batched = solve(thetas, probes)
    assert bool(jnp.all(batched.result == rp.RESULTS.successful))
    for i in range(T):
        single = rp.solve_equilibrium(COURNOT, thetas[i], probes[i])
        np.testing.assert_allclose(batched.x[i], single.x, atol=1e-12)
        np.testing.assert_allclose(
            single.x, cournot_best_response_iteration(float(thetas[i, 0]), CAPS[i]), atol=1e-10)


# ---------------------------------------------------------------------------------- public goods
# alpha = 10, gamma = 0.5, c = 1, M = 3; budgets in [0.5, 8]
PG = rp.games.PublicGoods()
ALPHA, GAMMA, COST, M = 10.0, 0.5, 1.0, 3
BUDGETS = np.array([[8.0, 8.0, 8.0], [1.0, 3.0, 8.0], [0.5, 0.5, 0.5], [6.0, 2.0, 4.0],
                    [7.5, 7.0, 0.9], [3.0, 3.0, 6.5]])
OBJ_P = rp.ParetoGapObjective(PG)


def pg_best_response_iteration(theta, budgets):
    """Independent reference: Jacobi best responses x_i = clip((alpha + theta - gamma G_-i) /
    (c + gamma), 0, w_i) (contraction factor 2 gamma/(c + gamma) = 2/3)."""
    x = np.zeros(M)
    for _ in range(300):
        others = x.sum() - x
        x = np.clip((ALPHA + theta - GAMMA * others) / (COST + GAMMA), 0.0, budgets)
    return x


def pg_welfare(x):
    G = np.sum(x)
    return M * (ALPHA * G - GAMMA * G**2 / 2) - COST * np.sum(x**2) / 2


def test_public_goods_closed_forms():
    x_nash = ALPHA / (COST + GAMMA * M)
    x_so = M * ALPHA / (COST + GAMMA * M**2)
    theta_star = (M - 1) * ALPHA * COST / (COST + GAMMA * M**2)
    assert (x_nash, x_so, theta_star) == pytest.approx((4.0, 60 / 11, 40 / 11))
    np.testing.assert_allclose(PG.optimal_subsidy(), [theta_star], atol=1e-12)
    np.testing.assert_allclose(PG.social_optimum(), np.full(3, x_so), atol=1e-12)
    # theta* is the marginal external benefit (M - 1) B'(G_SO) (the Samuelson condition)
    assert theta_star == pytest.approx((M - 1) * (ALPHA - GAMMA * M * x_so))
    for theta in (0.0, 2.0, theta_star, 9.0):
        x = _observe(OBJ_P, theta, BUDGETS)
        ref = np.stack([pg_best_response_iteration(theta, w) for w in BUDGETS])
        np.testing.assert_allclose(x, ref, atol=1e-10)
        np.testing.assert_allclose(x[0], (ALPHA + theta) / (COST + GAMMA * M), atol=1e-10)
        closed = np.stack([np.asarray(PG.nash_contributions(jnp.array([theta]), jnp.asarray(w)))
                           for w in BUDGETS])
        np.testing.assert_allclose(closed, ref, atol=1e-10)


def test_public_goods_optimal_subsidy_and_optimum():
    theta_star = (M - 1) * ALPHA * COST / (COST + GAMMA * M**2)
    uncapped = np.tile([[8.0, 8.0, 8.0]], (T, 1))
    res = minimize_scalar(lambda th: -pg_welfare(_observe(OBJ_P, th, uncapped)[0]),
                          bounds=(0.0, 10.0), method="bounded", options={"xatol": 1e-9})
    assert res.x == pytest.approx(theta_star, abs=1e-6)
    # the subsidy reaches the first best
    assert -res.fun == pytest.approx(pg_welfare(np.full(3, M * ALPHA / (COST + GAMMA * M**2))))
    for w in BUDGETS:
        x = np.asarray(PG.social_optimum(None, jnp.asarray(w)))
        ref = minimize(lambda v: -pg_welfare(v), x0=np.full(3, 0.1), method="L-BFGS-B",
                       bounds=[(0, k) for k in w], options={"ftol": 1e-15, "gtol": 1e-12})
        assert pg_welfare(x) >= -ref.fun - 1e-9
        np.testing.assert_allclose(x, ref.x, atol=1e-5)
        assert float(PG.welfare(jnp.array([1.0]), jnp.asarray(x))) == pytest.approx(pg_welfare(x))


def test_public_goods_pareto_gap_and_vmap_over_theta():
    # every budget binds for theta >= (c + gamma M) w_max - alpha: L = 0 (over-subsidising)
    w = BUDGETS.clip(max=7.5)
    L = float(OBJ_P(jnp.array([10.0]), jnp.asarray(w), KEY))
    assert L == pytest.approx(0.0, abs=1e-12)
    x = _observe(OBJ_P, 1.0, BUDGETS)
    L = float(OBJ_P(jnp.array([1.0]), jnp.asarray(BUDGETS), KEY))
    assert L == pytest.approx(max(0.0, np.max(1 - x / BUDGETS)), abs=1e-12) and L > 0
    thetas = jnp.linspace(0.0, 10.0, 5)[:, None]
    sols = jax.vmap(lambda th: rp.solve_equilibrium(PG, th, jnp.asarray(BUDGETS[1]),
                                                    throw=False))(thetas)
    assert bool(jnp.all(sols.result == rp.RESULTS.successful))
    for i in range(5):
        np.testing.assert_allclose(
            sols.x[i], pg_best_response_iteration(float(thetas[i, 0]), BUDGETS[1]), atol=1e-10)


# ------------------------------------------------------------------------------ inspection game
# g = 1, k = 1, r = h = 2: p* = k/(r+h) = 1/4, q* = g/theta; caps in [0.3, 1]
IG = rp.games.InspectionGame()
G_, K_, R_, H_ = 1.0, 1.0, 2.0, 2.0
FIRM = lambda th: np.array([[0.0, 0.0], [G_ - th, G_]])  # noqa: E731
INSP = np.array([[-K_, 0.0], [R_ - K_, -H_]])
IG_CAPS = np.array([[1.0, 1.0], [0.5, 0.9], [0.6, 0.3], [0.3, 0.35], [0.9, 0.45], [0.35, 1.0]])
OBJ_I = rp.ParetoGapObjective(IG)


def inspection_closed_form(theta, caps):
    """(P(violate), P(inspect)) from the case analysis of best responses (generic caps)."""
    p_star, q_bar = K_ / (R_ + H_), (G_ / theta if theta > 0 else np.inf)
    k1, k2 = np.minimum(caps, 1.0)
    if k1 < p_star:
        return np.array([k1, 0.0])
    if k2 > q_bar:
        return np.array([p_star, q_bar])
    return np.array([k1, k2])


def _best_response_value(payoff_vec, cap_index, cap):
    """max_y <payoff_vec, y> over the simplex with y[cap_index] <= cap (SciPy linprog)."""
    bounds = [(0, None), (0, None)]
    bounds[cap_index] = (0, cap)
    res = linprog(-payoff_vec, A_eq=np.ones((1, 2)), b_eq=[1.0], bounds=bounds, method="highs")
    return -res.fun


def test_inspection_mixed_equilibrium():
    for theta in (0.5, 2.0, 4.0, 8.0):
        x = _observe(OBJ_I, theta, IG_CAPS)
        np.testing.assert_allclose(x.sum(axis=-1), 1.0, atol=1e-10)
        assert np.all(x >= -1e-12)
        pq = np.stack([x[:, 0, 1], x[:, 1, 0]], axis=1)
        ref = np.stack([inspection_closed_form(theta, caps) for caps in IG_CAPS])
        np.testing.assert_allclose(pq, ref, atol=1e-10)
        for t in range(T):  # each mixed strategy is a best response (independent LPs)
            firm_payoffs = FIRM(theta) @ x[t, 1]
            insp_payoffs = x[t, 0] @ INSP
            assert firm_payoffs @ x[t, 0] == pytest.approx(
                _best_response_value(firm_payoffs, 1, IG_CAPS[t, 0]), abs=1e-9)
            assert insp_payoffs @ x[t, 1] == pytest.approx(
                _best_response_value(insp_payoffs, 0, IG_CAPS[t, 1]), abs=1e-9)
        if theta > G_:  # the paradox of penalties: the violation rate does not move with the fine
            np.testing.assert_allclose(pq[0], [0.25, G_ / theta], atol=1e-10)
    np.testing.assert_allclose(IG.mixed_equilibrium(jnp.array([4.0])), [0.25, 0.25])


def test_inspection_sampling_and_pareto_gap():
    theta = jnp.array([2.0])
    x = _observe(OBJ_I, 2.0, IG_CAPS)
    N = 4000
    samples = IG.sample_strategy(jax.random.PRNGKey(3), jnp.asarray(x[1]), N)
    assert samples.shape == (N, 2, 2)
    np.testing.assert_array_equal(np.sum(samples, axis=-1), 1.0)
    freq = np.asarray(samples.mean(axis=0))
    sigma = np.sqrt(x[1] * (1 - x[1]) / N)
    assert np.all(np.abs(freq - x[1]) <= 4 * sigma + 1e-12)
    # exact observations: the binding probes give g = 0, the interior ones slack
    L_exact = float(OBJ_I(theta, jnp.asarray(IG_CAPS), KEY))
    assert L_exact == pytest.approx(max(0.0, np.max(1 - np.stack([x[:, 0, 1], x[:, 1, 0]], 1)
                                                    / IG_CAPS)), abs=1e-12)
    # low fine: every cap binds, L = 0 from exact equilibria; samples (eq. 12-13) give a small L
    obj_s = rp.ParetoGapObjective(IG, num_samples=400)
    L = float(OBJ_I(jnp.array([0.5]), jnp.asarray(IG_CAPS), KEY))
    assert L == pytest.approx(0.0, abs=1e-12)
    L_sampled = float(obj_s(jnp.array([0.5]), jnp.asarray(IG_CAPS), KEY))
    assert np.isfinite(L_sampled) and 0.0 < L_sampled < 0.3
    xs, ok = obj_s.observe(jnp.array([0.5]), jnp.asarray(IG_CAPS), KEY)
    assert xs.shape == (T, 400, 2, 2) and bool(jnp.all(ok))


def test_inspection_social_optimum_and_welfare():
    for theta in (0.5, 4.0):
        for caps in IG_CAPS:
            x = np.asarray(IG.social_optimum(jnp.array([theta]), jnp.asarray(caps)))
            grid_p = np.linspace(0, min(caps[0], 1), 41)
            grid_q = np.linspace(0, min(caps[1], 1), 41)
            P, Q = np.meshgrid(grid_p, grid_q, indexing="ij")
            firm = P * (G_ - Q * theta)
            insp = -K_ * Q + P * Q * (R_ + H_) - P * H_
            best = np.max(firm + insp)
            p, q = x[0, 1], x[1, 0]
            val = p * (G_ - q * theta) - K_ * q + p * q * (R_ + H_) - p * H_
            assert val == pytest.approx(best, abs=1e-12)
            assert float(IG.welfare(jnp.array([theta]), jnp.asarray(x))) == pytest.approx(val)
