"""Pareto gap: independent LP / brute-force references, certificates, GARP family, gradients."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmd_rp as rp
from tests.reference.check_references import (
    concave_utility_values,
    integer_values,
    linear_budget_values,
)
from tests.reference.consumer import ccei_bruteforce, garp_bruteforce, garp_exact
from tests.reference.pareto_gap_lp import (
    pareto_gap_cycles,
    pareto_gap_lp,
    pareto_gap_threshold_graph,
    simple_cycles_complete_digraph,
)


def nonlinear_values(rng, M, T, K=2):
    """Concave increasing probes g_t(x) = sum_k p_tk sqrt(x_k) - I_t at arbitrary bundles."""
    v = np.empty((M, T, T))
    for i in range(M):
        p = rng.uniform(0.2, 2.0, (T, K))
        x = rng.uniform(0.1, 3.0, (T, K))
        G = p @ np.sqrt(x).T  # G[t, s] = sum_k p_tk sqrt(x_sk)
        income = np.diag(G) * rng.uniform(0.9, 1.1, T)  # some off budget either way
        v[i] = G - income[:, None]
    return v


def datasets(seed, n_each=50):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_each):
        M, T = int(rng.integers(1, 4)), int(rng.integers(1, 9))
        out.append(rng.normal(size=(M, T, T)))
        out.append(linear_budget_values(rng, M, T, 3)[0])
        out.append(linear_budget_values(rng, M, T, 2, offbudget=True)[0])
        out.append(concave_utility_values(rng, M, T, 3)[0])
        out.append(nonlinear_values(rng, M, T))
        out.append(integer_values(rng, M, T))
    return out


DATA = datasets(0)  # 300 data sets of six kinds


def _numpy_certificate_ok(values, u, lam, r):
    """Independent check of (10) at level r: every u_s - u_t - lam_t (v_ts + r) <= rounding."""
    values, u, lam = np.asarray(values), np.asarray(u), np.asarray(lam)
    if not (np.all(np.isfinite(u)) and np.all(np.isfinite(lam)) and np.all(lam > 0)):
        return False
    lhs = u[:, None, :] - u[:, :, None]  # [i, t, s] = u_s - u_t
    rhs = lam[:, :, None] * (values + r)
    size = np.abs(u[:, None, :]) + np.abs(u[:, :, None]) + np.abs(rhs)
    return bool(np.all(lhs - rhs <= 1e-12 * np.maximum(size, 1e-300)))


def test_gap_matches_lp_and_brute_force():
    vals = [jnp.asarray(v) for v in DATA]
    for v in vals:
        L = float(rp.pareto_gap(v))
        scale = max(1.0, float(np.max(np.abs(v))))
        ref = pareto_gap_lp(np.asarray(v))
        assert abs(L - ref) <= 1e-8 * scale, (L, ref)
        if v.shape[-1] <= 6:
            assert abs(L - pareto_gap_cycles(np.asarray(v))) <= 1e-12 * scale


def test_gap_large_T():
    rng = np.random.default_rng(1)
    cases = [linear_budget_values(rng, 3, 50, 4)[0] for _ in range(4)]
    cases += [nonlinear_values(rng, 3, 50) for _ in range(4)]
    cases += [rng.normal(size=(3, 50, 50)) for _ in range(4)]
    L = rp.pareto_gap(jnp.asarray(np.stack(cases)))
    for k, v in enumerate(cases):
        assert float(L[k]) == pytest.approx(pareto_gap_threshold_graph(v), abs=1e-12)
    for k in (0, 4):  # the LP at T = 50 is slow: two cases
        assert float(L[k]) == pytest.approx(pareto_gap_lp(cases[k]), abs=1e-8)


def _by_shape(data):
    groups = {}
    for v in data:
        groups.setdefault(v.shape, []).append(v)
    return [np.stack(g) for g in groups.values()]


def test_certificates_valid_on_every_case():
    for batch in _by_shape(DATA):  # one compilation per shape
        certs = rp.pareto_gap_certificate(jnp.asarray(batch))
        L = np.asarray(rp.pareto_gap(jnp.asarray(batch)))
        assert np.all(np.asarray(certs.valid)), np.asarray(certs.violation)
        assert np.all(np.asarray(certs.r) >= L)
        viol = rp.certificate_violation(jnp.asarray(batch), certs.u, certs.lam, certs.r)
        assert np.all(np.asarray(viol) <= 1e-12)
        u, lam, r = np.asarray(certs.u), np.asarray(certs.lam), np.asarray(certs.r)
        for k, v in enumerate(batch):
            assert _numpy_certificate_ok(v, u[k], lam[k], r[k])


def test_no_false_certificates():
    rng = np.random.default_rng(2)
    violating = []
    while len(violating) < 500:
        # six shapes (one compilation each) from the smallest to the largest of the range
        M, T = int(rng.choice([1, 3])), int(rng.choice([2, 5, 11]))
        v = linear_budget_values(rng, M, T, 2)[0] if rng.random() < 0.5 else rng.normal(size=(M, T, T))
        if pareto_gap_threshold_graph(v) > 1e-6:
            violating.append(v)
    claimed = 0
    for batch in _by_shape(violating):
        L = np.array([pareto_gap_threshold_graph(v) for v in batch])
        scale = np.maximum(1.0, np.abs(batch).max(axis=(1, 2, 3)))
        for r in (np.zeros_like(L), 0.5 * L, L - 1e-9 * scale):
            cert = rp.pareto_gap_certificate(jnp.asarray(batch), r=jnp.asarray(r), throw=False)
            valid = np.asarray(cert.valid)
            claimed += int(valid.sum())
            for k in np.where(valid)[0]:  # would be a false certificate
                assert _numpy_certificate_ok(batch[k], cert.u[k], cert.lam[k], r[k])
    assert claimed == 0


def test_vmap_matches_loop_and_batch_axes():
    vals = np.stack([np.random.default_rng(k).normal(size=(3, 7, 7)) for k in range(20)])
    batched = rp.pareto_gap(jnp.asarray(vals))
    vm = jax.vmap(rp.pareto_gap)(jnp.asarray(vals))
    loop = [float(rp.pareto_gap(jnp.asarray(v))) for v in vals]
    np.testing.assert_array_equal(batched, vm)
    np.testing.assert_array_equal(batched, loop)
    two = rp.pareto_gap(jnp.asarray(vals.reshape(4, 5, 3, 7, 7)))
    np.testing.assert_array_equal(two.reshape(-1), batched)
    with jax.disable_jit():
        np.testing.assert_array_equal(rp.pareto_gap(jnp.asarray(vals[0])), batched[0])


def test_float32_is_exact():
    v = np.random.default_rng(3).normal(size=(3, 9, 9)).astype(np.float32)
    L32 = rp.pareto_gap(jnp.asarray(v))
    assert L32.dtype == jnp.float32
    assert float(L32) == pareto_gap_threshold_graph(v.astype(np.float64))


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    for _ in range(20):
        v = rng.normal(size=(2, 6, 6))
        if pareto_gap_threshold_graph(v) <= 0:
            continue
        g = np.asarray(jax.grad(rp.pareto_gap)(jnp.asarray(v)))
        # L is piecewise linear with a unique maximiser here: central differences are exact
        h = 1e-7
        fd = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            d = np.zeros_like(v)
            d[idx] = h
            fd[idx] = (pareto_gap_threshold_graph(v + d) - pareto_gap_threshold_graph(v - d)) / (2 * h)
        np.testing.assert_allclose(g, fd, atol=1e-6)
        assert np.sum(g != 0) == 1 and g.min() == -1.0


def test_gradient_zero_when_consistent():
    rng = np.random.default_rng(5)
    v = concave_utility_values(rng, 2, 6, 3)[0]
    v[:, np.arange(6), np.arange(6)] = 0.0  # exactly on budget (remove rounding of p.x - 1)
    assert float(rp.pareto_gap(jnp.asarray(v))) <= 1e-12
    assert np.all(np.asarray(jax.grad(rp.pareto_gap)(jnp.asarray(v))) == 0)


def test_garp_and_ccei_against_brute_force():
    rng = np.random.default_rng(6)
    P, X, g_ref, c_ref = [], [], [], []
    for _ in range(150):
        T = int(rng.integers(2, 8))
        p = rng.uniform(0.2, 2.0, (T, 2))
        x = rng.uniform(0.2, 2.0, (T, 2))
        if rng.random() < 0.2:  # ties: equal expenditures
            x[1] = x[0]
        P.append(p), X.append(x)
        g_ref.append(garp_bruteforce(p, x)), c_ref.append(ccei_bruteforce(p, x))
    for p, x, g, c in zip(P, X, g_ref, c_ref, strict=True):
        assert bool(rp.garp(jnp.asarray(p), jnp.asarray(x))) == g
        assert float(rp.ccei(jnp.asarray(p), jnp.asarray(x))) == pytest.approx(c, abs=1e-12)
    # batched
    T = 5
    p = rng.uniform(0.2, 2.0, (40, T, 3))
    x = rng.uniform(0.2, 2.0, (40, T, 3))
    cc = rp.ccei(jnp.asarray(p), jnp.asarray(x))
    gg = rp.garp(jnp.asarray(p), jnp.asarray(x))
    for k in range(40):
        assert float(cc[k]) == pytest.approx(ccei_bruteforce(p[k], x[k]), abs=1e-12)
        assert bool(gg[k]) == garp_bruteforce(p[k], x[k])


def test_mm_garp_is_garp_on_budget_data_and_theorem_1():
    rng = np.random.default_rng(7)
    for _ in range(100):
        T = int(rng.integers(2, 8))
        p = rng.uniform(0.2, 2.0, (T, 2))
        x = rng.uniform(0.2, 2.0, (T, 2))
        v = rp.budget_values(jnp.asarray(p), jnp.asarray(x))
        assert bool(rp.mm_garp(v)) == garp_bruteforce(p, x)
        # Theorem 1 on budget-exhausting data: MM-GARP => L = 0 (the converse fails on ties)
        if bool(rp.mm_garp(v)):
            assert float(rp.pareto_gap(v)) == 0.0


def test_garp_f_theorem_4():
    """L = inf{F >= 0 : GARP_F holds}: GARP_F holds above L and fails below it."""
    for batch in _by_shape(DATA):
        v = jnp.asarray(batch)
        L = np.asarray(rp.pareto_gap(v))
        scale = np.maximum(1.0, np.abs(batch).max(axis=(1, 2, 3)))
        assert np.all(np.asarray(rp.garp_f(v, jnp.asarray(L + 1e-9 * scale))))
        below = np.asarray(rp.garp_f(v, jnp.asarray(np.maximum(L - 1e-9 * scale, 0.0))))
        assert not np.any(below[L > 1e-9 * scale])


def _cobb_douglas_data(rng, M, T):
    """M Cobb-Douglas agents (k = 2) on random linear budgets p_t . x <= 1: L = 0."""
    a = rng.dirichlet(np.ones(2), size=M)  # (M, 2)
    p = rng.uniform(0.2, 2.0, (T, M, 2))
    x = a[None] / p  # demand x_k = a_k / p_k
    return p, x


def test_recovered_utilities_rationalise_data():
    rng = np.random.default_rng(8)
    M, T = 3, 6
    p, x = _cobb_douglas_data(rng, M, T)
    # values[i, t, s] = p_t^i . x_s^i - 1
    values = jnp.asarray(np.einsum("tik,sik->its", p, x) - 1.0)
    assert float(rp.pareto_gap(values)) <= 1e-12
    tol = 1e-6
    cert = rp.pareto_gap_certificate(values, tol=tol)
    assert bool(cert.valid)
    U = rp.recover_utilities(cert, lambda s, xx: jnp.sum(jnp.asarray(p)[s] * xx, axis=1) - 1.0)
    slack = tol * float(jnp.sum(jnp.max(cert.lam, axis=1)))
    for t in range(T):
        best = float(U.total(jnp.asarray(x[t])))
        # random points of agent-wise budget sets {p_t^i . x^i <= 1}
        w = rng.dirichlet(np.ones(2), size=(500, M)) * rng.uniform(0, 1, (500, M, 1))
        cand = w / p[t][None]
        tot = jax.vmap(U.total)(jnp.asarray(cand))
        assert float(jnp.max(tot)) <= best + slack
        # and the observed bundle is affordable: it maximises sum_i U^i on the probe set
    # U is increasing and concave along rays (min of affine functions of the budget)
    assert np.all(np.asarray(cert.lam) > 0)


def test_bad_input():
    with pytest.raises(ValueError, match="values"):
        rp.pareto_gap(jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match="square"):
        rp.pareto_gap(jnp.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match="at least one agent"):
        rp.pareto_gap(jnp.zeros((0, 3, 3)))
    with pytest.raises(ValueError, match="NaN or inf"):
        rp.pareto_gap(jnp.array([[[0.0, jnp.nan], [0.0, 0.0]]]))
    with pytest.raises(eqx.EquinoxRuntimeError, match="NaN or inf"):
        eqx.filter_jit(rp.pareto_gap)(jnp.array([[[0.0, jnp.inf], [0.0, 0.0]]]))
    # documented values
    assert float(rp.pareto_gap(jnp.array([[[-0.3]]]))) == pytest.approx(0.3)  # T = 1, off budget
    assert float(rp.pareto_gap(jnp.array([[[0.0]]]))) == 0.0  # T = 1 on budget
    assert float(rp.pareto_gap(jnp.zeros((2, 4, 4)))) == 0.0  # all-equal observations on budget
    with pytest.raises(ValueError, match="prices"):
        rp.ccei(jnp.ones((3, 2)), jnp.ones((3, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        rp.ccei(-jnp.ones((3, 2)), jnp.ones((3, 2)))


def test_concentration_bound_monte_carlo():
    """Theorem 2 (as corrected): P(|L_hat - L| <= eps) >= bound, on data with mixed strategies.

    One agent, T = 3 linear budgets; the true mixed strategy at t is uniform on a segment of the
    budget line (so g_t(mu_s) = g_t(mean) exactly, and the true gap L > 0 here); L_hat uses N
    samples per strategy. The bound must hold at every eps; it is very loose (docs/pareto_gap.md).
    """
    rng = np.random.default_rng(2)
    M, T, N, reps = 1, 3, 1000, 2000
    p = rng.uniform(0.5, 1.5, (M, T, 2))
    w = np.sort(rng.uniform(0, 1, (M, T, 2)), axis=-1)
    ends = np.stack([np.stack([w[..., j] / p[..., 0], (1 - w[..., j]) / p[..., 1]], -1)
                     for j in range(2)], axis=-2)  # (M, T, 2 ends, 2 goods)
    true_vals = np.einsum("itk,isk->its", p, ends.mean(axis=-2)) - 1.0
    L = float(rp.pareto_gap(jnp.asarray(true_vals)))
    assert L > 0.005  # an informative case: the data are not rationalisable
    u = rng.uniform(size=(reps, N, M, T, 1))
    samples = ends[None, None, ..., 0, :] + u * (ends[None, None, ..., 1, :] - ends[None, None, ..., 0, :])
    vals = np.einsum("itk,risk->rits", p, samples.mean(axis=1)) - 1.0
    Lh = np.asarray(rp.pareto_gap(jnp.asarray(vals)))
    g_all = np.einsum("itk,isek->itse", p, ends) - 1.0
    value_range = float(g_all.max() - g_all.min())
    for eps in (0.002, 0.005, 0.01, 0.05, 0.1):
        emp_prob = float(np.mean(np.abs(Lh - L) <= eps))
        b_union = float(rp.concentration_bound(eps, N, T, M, value_range, form="union"))
        b_paper = float(rp.concentration_bound(eps, N, T, M, value_range, form="paper"))
        print(f"eps={eps}: empirical {emp_prob:.4f}, union bound {b_union:.4f}, paper {b_paper:.4f}")
        # Monte-Carlo error of emp_prob is < 0.01 at 2000 reps (3 sigma)
        assert emp_prob >= b_union - 0.01
        assert emp_prob >= b_paper - 0.01
        assert 0.0 <= b_union <= b_paper <= 1.0
    assert float(np.mean(np.abs(Lh - L) <= 0.002)) < 0.9  # L_hat does fluctuate at this N


def test_peeling_path_all_branches():
    """T >= PEEL_T uses the 2-cycle bound + peeling, raising the level through functional-graph
    cycles when a core survives: every branch against the independent threshold-graph reference,
    and the closure path on the same data."""
    from jaxmd_rp import _bottleneck as bn

    rng = np.random.default_rng(11)
    T = 40
    cases = [linear_budget_values(rng, 3, T, 3)[0] for _ in range(3)]  # inconsistent: small core
    cases += [concave_utility_values(rng, 3, T, 3)[0] for _ in range(3)]  # consistent: L = 0
    W = np.full((3, T, T), -10.0) + rng.random((3, T, T))  # no heavy 2-cycle or self-loop ...
    W[0, np.arange(T), (np.arange(T) + 1) % T] = 5.0 + rng.random(T)  # ... but a Hamiltonian cycle:
    cases.append(-W)  # the whole graph is the core (levels raised by functional cycles)
    cases.append(integer_values(rng, 3, T))  # ties
    batch = jnp.asarray(np.stack(cases))
    assert T >= bn.PEEL_T["cpu"]
    L = np.asarray(rp.pareto_gap(batch))
    two = np.max(np.minimum(-batch, np.swapaxes(-batch, -1, -2)), axis=(-3, -2, -1))
    assert np.any(two < L) and np.any(two == L)  # both the bound and the level raising decide
    for k, c in enumerate(cases):
        assert L[k] == pytest.approx(pareto_gap_threshold_graph(c), abs=1e-12)
    B_fast = np.asarray(bn.bottleneck(-batch))
    B_closure = np.asarray(bn.bottleneck(-batch, with_closure=True)[0])
    np.testing.assert_array_equal(B_fast, B_closure)  # exact, also below zero (no floor)
    g = np.asarray(jax.grad(lambda x: jnp.sum(rp.pareto_gap(x)))(batch))
    for k, c in enumerate(cases):  # gradient: minus one bottleneck edge with weight -L
        if L[k] > 0:
            assert g[k].sum() == -1.0 and c.reshape(-1)[np.argmin(g[k].reshape(-1))] == -L[k]
        else:
            assert np.all(g[k] == 0)


def _garp_type_violated_cycles(W, tol=0.0):
    """Brute force: some simple cycle (self-loops included) of one agent has every edge in
    R = {W >= -tol} and one edge in P = {W > tol}."""
    for i in range(W.shape[0]):
        for c in simple_cycles_complete_digraph(W.shape[-1]):
            w = W[i, c, np.roll(c, -1)]
            if np.all(w >= -tol) and np.any(w > tol):
                return True
    return False


def test_gap_family_property_against_cycle_enumeration():
    """Random small instances with many ties (small integers): pareto_gap, garp_f, mm_garp
    (with and without a tie tolerance) and garp/ccei against explicit cycle enumeration."""
    rng = np.random.default_rng(21)
    for T in (1, 2, 3, 4, 5):
        vals = rng.integers(-2, 3, size=(40, 2, T, T)).astype(float) / 2.0
        L = np.asarray(rp.pareto_gap(jnp.asarray(vals)))
        mm = np.asarray(rp.mm_garp(jnp.asarray(vals)))
        mm_tol = np.asarray(rp.mm_garp(jnp.asarray(vals), tol=0.5))
        for F in (0.0, 0.5):
            gf = np.asarray(rp.garp_f(jnp.asarray(vals), F))
            for k, v in enumerate(vals):
                assert gf[k] == (not _garp_type_violated_cycles(-v - F))
        for k, v in enumerate(vals):
            assert L[k] == pareto_gap_cycles(v)
            diag = np.diagonal(v, axis1=-2, axis2=-1)[..., :, None]
            assert mm[k] == (not _garp_type_violated_cycles(diag - v))
            assert mm_tol[k] == (not _garp_type_violated_cycles(diag - v, tol=0.5))
    # consumer data on a price/quantity grid (exact ties between expenditures)
    p = rng.integers(1, 4, size=(60, 4, 2)).astype(float)
    x = rng.integers(1, 4, size=(60, 4, 2)).astype(float)
    g, c = np.asarray(rp.garp(p, x)), np.asarray(rp.ccei(p, x))
    for k in range(60):
        assert g[k] == garp_bruteforce(p[k], x[k]) == garp_exact(p[k], x[k])
        assert c[k] == pytest.approx(ccei_bruteforce(p[k], x[k]), abs=1e-15)
    assert 0 < g.sum() < 60
