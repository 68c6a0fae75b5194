"""Bad-input corpus of the revealed-preference entry points (gap, GARP family, certificates,
consumer indices, concentration bound, rank optimality)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import jaxmd_rp as rp
from tests.corpus import correct, flagged, refused

V = np.array([[[0.0, -0.5], [-0.25, 0.0]]])  # L = 0.25
VB = np.stack([V, V.copy(), V.copy()])  # a batch of three
VB_NAN = VB.copy()
VB_NAN[1, 0, 0, 1] = np.nan
P2 = np.array([[1.0, 2.0], [2.0, 1.0]])
X2 = np.array([[1.0, 1.0], [2.0, 0.0]])  # GARP fails; CCEI 3/4, VI 7/8, HM 1
PB = np.stack([P2, P2, P2])
XB = np.stack([X2, X2, X2])
POS = np.array([[1, 2, 3], [1, 3, 2], [2, 3, 1]])
CASES = []


def add(case):
    CASES.append(case)


def _nan_only_at(k):
    return lambda out: bool(np.isnan(out[k])) and not np.any(np.isnan(np.delete(np.asarray(out), k)))


def _ordinary(dtype, seed=0, n=50):
    """Prices 10-100, quantities 100-1000 (expenditures overflow float16)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(10, 100, (n, 5, 3)).astype(dtype)
    x = rng.uniform(100, 1000, (n, 5, 3)).astype(dtype)
    return p, x


def _exact_garp(p, x):
    from tests.reference.consumer import garp_exact

    return np.array([garp_exact(a, b) for a, b in zip(p, x, strict=True)])


# ---- values arrays: shapes, dtypes, NaN -----------------------------------------------------
BAD_VALUES = {
    "ndim2": (np.zeros((3, 3)), ValueError, r"shape \(\.\.\., M, T, T\)"),
    "ndim1": (np.zeros(3), ValueError, r"shape \(\.\.\., M, T, T\)"),
    "not_square": (np.zeros((1, 3, 4)), ValueError, "square"),
    "no_agent": (np.zeros((0, 3, 3)), ValueError, "at least one agent"),
    "no_experiment": (np.zeros((1, 0, 0)), ValueError, "at least one agent and one experiment"),
    "complex": (V.astype(complex), TypeError, "must be real"),
    "nan": (np.where(V == 0, np.nan, V), ValueError, "NaN or inf"),
    "inf": (np.where(V == 0, np.inf, V), ValueError, "NaN or inf"),
}
for what, (arr, exc, msg) in BAD_VALUES.items():
    add(refused(f"revealed/pareto_gap/{what}", lambda a=arr: rp.pareto_gap(a), exc, msg))
    add(refused(f"revealed/mm_garp/{what}", lambda a=arr: rp.mm_garp(a), exc, msg))
    add(refused(f"revealed/garp_f/{what}", lambda a=arr: rp.garp_f(a, 0.1), exc, msg))
    if what not in ("nan", "inf"):
        add(refused(f"revealed/pareto_gap_certificate/{what}",
                    lambda a=arr: rp.pareto_gap_certificate(a), exc, msg))
        add(refused(f"revealed/pareto_gap_unchecked/{what}",
                    lambda a=arr: rp.pareto_gap_unchecked(a), exc, msg))

# ---- parameters out of range ----------------------------------------------------------------
for what, F in {"nan": np.nan, "inf": np.inf, "negative": -0.1}.items():
    add(refused(f"revealed/garp_f/F_{what}", lambda F=F: rp.garp_f(V, F), ValueError,
                "`F` must be finite and >= 0"))
add(refused("revealed/garp_f/F_complex", lambda: rp.garp_f(V, 0.1 + 1j), TypeError, "`F` must be real"))
for fn in ("mm_garp", "garp_f"):
    for what, tol in {"nan": np.nan, "negative": -1e-9}.items():
        call = (lambda fn=fn, tol=tol: getattr(rp, fn)(V, tol=tol)) if fn == "mm_garp" else (
            lambda tol=tol: rp.garp_f(V, 0.1, tol=tol))
        add(refused(f"revealed/{fn}/tol_{what}", call, ValueError, "`tol` must be finite and >= 0"))
for what, r in {"nan": np.nan, "inf": np.inf}.items():
    add(refused(f"revealed/pareto_gap_certificate/r_{what}",
                lambda r=r: rp.pareto_gap_certificate(V, r=r), ValueError, "`r` must be finite"))
for what, tol in {"nan": np.nan, "zero": 0.0, "negative": -1e-3}.items():
    add(refused(f"revealed/pareto_gap_certificate/tol_{what}",
                lambda tol=tol: rp.pareto_gap_certificate(V, tol=tol), ValueError,
                "`tol` must be finite and > 0"))
add(refused("revealed/pareto_gap_certificate/r_complex",
            lambda: rp.pareto_gap_certificate(V, r=0.3 + 0j), TypeError, "`r` must be real"))
add(refused("revealed/pareto_gap_certificate/r_wrong_shape",
            lambda: rp.pareto_gap_certificate(VB, r=np.ones(4)), ValueError, "broadcast"))

# ---- one failed element in a batch ----------------------------------------------------------
add(correct("revealed/pareto_gap/throw_false_nan_element",
            lambda: rp.pareto_gap(VB_NAN, throw=False),
            lambda L: _nan_only_at(1)(L) and np.allclose(np.delete(np.asarray(L), 1), 0.25)))
add(correct("revealed/pareto_gap_unchecked/nan_element", lambda: rp.pareto_gap_unchecked(VB_NAN),
            _nan_only_at(1)))
add(correct("revealed/pareto_gap/nan_gradient_only_there",
            lambda: jax.grad(lambda v: jnp.sum(rp.pareto_gap(v, throw=False)))(jnp.asarray(VB_NAN)),
            lambda g: bool(np.all(np.isnan(g[1]))) and not np.any(np.isnan(np.delete(g, 1, 0)))))
add(refused("revealed/pareto_gap/throw_true_nan_element", lambda: rp.pareto_gap(VB_NAN),
            ValueError, "NaN or inf"))
add(flagged("revealed/pareto_gap_certificate/nan_element",
            lambda: rp.pareto_gap_certificate(VB_NAN, throw=False), "invalid_data", where=1,
            nan=("u", "lam")))
add(flagged("revealed/pareto_gap_certificate/healthy_elements",
            lambda: rp.pareto_gap_certificate(VB_NAN, throw=False), "successful", where=[0, 2]))
add(flagged("revealed/pareto_gap_certificate/below_gap",
            lambda: rp.pareto_gap_certificate(V, r=0.2, throw=False), "certificate_failed",
            nan=("u", "lam")))
add(refused("revealed/pareto_gap_certificate/below_gap_throw",
            lambda: rp.pareto_gap_certificate(V, r=0.2), eqx.EquinoxRuntimeError,
            "No certificate could be verified"))
add(flagged("revealed/pareto_gap_certificate/float16_default_tol",
            lambda: rp.pareto_gap_certificate(jnp.asarray(VB, jnp.float16)), "successful"))
add(correct("revealed/pareto_gap_certificate/valid_alias",
            lambda: rp.pareto_gap_certificate(V), lambda c: bool(c.valid) and bool(c.success)))

# ---- certificate_violation / recover_utilities ----------------------------------------------
U, LAM = np.zeros((1, 2)), np.ones((1, 2))
add(correct("revealed/certificate_violation/r_nan", lambda: rp.certificate_violation(V, U, LAM, np.nan),
            lambda out: float(out) == np.inf))
add(correct("revealed/certificate_violation/lam_zero",
            lambda: rp.certificate_violation(V, U, np.zeros((1, 2)), 0.3), lambda o: float(o) == np.inf))
add(refused("revealed/certificate_violation/u_shape",
            lambda: rp.certificate_violation(V, np.zeros((2, 2)), LAM, 0.3), ValueError, "values.shape"))
add(refused("revealed/certificate_violation/u_complex",
            lambda: rp.certificate_violation(V, U + 0j, LAM, 0.3), TypeError, "`u` must be a real"))
add(refused("revealed/recover_utilities/failed_certificate",
            lambda: rp.recover_utilities(rp.pareto_gap_certificate(V, r=0.2, throw=False),
                                         lambda s, x: x), ValueError, "not verified"))
add(refused("revealed/recover_utilities/batched",
            lambda: rp.recover_utilities(rp.pareto_gap_certificate(VB), lambda s, x: x), ValueError,
            "single data set"))
add(refused("revealed/recover_utilities/not_a_certificate",
            lambda: rp.recover_utilities(object(), lambda s, x: x), TypeError, "ParetoCertificate"))
add(refused("revealed/recover_utilities/probe_fn", lambda: rp.recover_utilities(
    rp.pareto_gap_certificate(V), None), TypeError, "callable"))

# ---- consumer data: every entry point ---------------------------------------------------------
CONSUMER = {
    "garp": lambda p, x: rp.garp(p, x),
    "ccei": lambda p, x: rp.ccei(p, x),
    "budget_values": lambda p, x: rp.budget_values(p, x),
    "varian_index": lambda p, x: rp.varian_index(p, x),
    "houtman_maks_index": lambda p, x: rp.houtman_maks_index(p, x),
    "varian_index_milp": lambda p, x: rp.varian_index(p, x, method="milp"),
    "houtman_maks_index_milp": lambda p, x: rp.houtman_maks_index(p, x, method="milp"),
}
BAD_CONSUMER = {
    "shape_mismatch": ((P2, X2[:, :1]), ValueError, "same shape"),
    "ndim1": ((P2[0], X2[0]), ValueError, "same shape"),
    "T0": ((np.zeros((0, 2)), np.zeros((0, 2))), ValueError, r"at least one observation"),
    "K0": ((np.zeros((2, 0)), np.zeros((2, 0))), ValueError, r"at least one observation and one good"),
    "complex_prices": ((P2 + 1j, X2), TypeError, "`prices` must be real"),
    "complex_bundles": ((P2, X2 + 0j), TypeError, "`bundles` must be real"),
    "nan_price": ((np.where(P2 == 2, np.nan, P2), X2), ValueError, "`prices` must be finite"),
    "negative_bundle": ((P2, -X2), ValueError, "`bundles` must be finite and non-negative"),
    "inf_bundle": ((P2, X2 + np.inf), ValueError, "`bundles` must be finite"),
    "zero_expenditure": ((P2, np.zeros((2, 2))), ValueError, "expenditure <p_t, x_t> must be positive"),
    "underflow": ((P2, np.array([[1.0, 1.0], [1e-300, 1e-300]])), ValueError, "underflow"),
    "string": ((np.array([["a", "b"]]), np.array([["a", "b"]])), TypeError, "numeric"),
}
for entry, fn in CONSUMER.items():
    for what, ((p, x), exc, msg) in BAD_CONSUMER.items():
        add(refused(f"revealed/{entry}/{what}", lambda fn=fn, p=p, x=x: fn(p, x), exc, msg))
for fn_name in ("varian_index", "houtman_maks_index"):
    fn = getattr(rp, fn_name)
    add(refused(f"revealed/{fn_name}/method", lambda fn=fn: fn(P2, X2, method="lp"), ValueError, "`method`"))
    add(refused(f"revealed/{fn_name}/units", lambda fn=fn: fn(P2, X2, units="percent"), ValueError, "`units`"))
    add(refused(f"revealed/{fn_name}/max_size", lambda fn=fn: fn(np.ones((17, 2)), np.ones((17, 2))),
                ValueError, "max_size"))
    add(refused(f"revealed/{fn_name}/milp_traced",
                lambda fn=fn: jax.jit(lambda a, b: fn(a, b, method="milp"))(P2, X2), ValueError,
                "cannot be traced"))
    add(correct(f"revealed/{fn_name}/filter_jit_readable",  # no callback trace: equinox's error
                lambda fn=fn: _raises_text(lambda: eqx.filter_jit(fn)(P2, -X2)),
                lambda text: "non-negative" in text and "pure_callback" not in text))
for what, tol in {"nan": np.nan, "negative": -0.1}.items():
    add(refused(f"revealed/garp/tol_{what}", lambda tol=tol: rp.garp(P2, X2, tol=tol), ValueError,
                "`tol` must be finite and >= 0"))
    add(refused(f"revealed/houtman_maks_index/tol_{what}",
                lambda tol=tol: rp.houtman_maks_index(P2, X2, tol=tol), ValueError, "`tol` must be"))


def _raises_text(call):
    try:
        call()
    except Exception as err:  # noqa: BLE001 - the text is what is checked
        return f"{type(err).__name__}: {err}"
    return ""


# scale: overflow in float64 and float16, underflow in float64 -- against exact arithmetic
add(correct("revealed/garp/scaled_1e155", lambda: rp.garp(1e155 * PB, 1e155 * XB),
            lambda g: np.array_equal(g, [False] * 3)))
add(correct("revealed/garp/scaled_1e-160", lambda: rp.garp(1e-160 * PB, 1e-160 * XB),
            lambda g: np.array_equal(g, [False] * 3)))
add(correct("revealed/ccei/scaled_1e155", lambda: rp.ccei(1e155 * P2, 1e155 * X2),
            lambda c: float(c) == 0.75))
add(correct("revealed/varian_index/scaled_1e155", lambda: rp.varian_index(1e155 * P2, 1e155 * X2),
            lambda v: float(v) == 0.875))
add(correct("revealed/houtman_maks_index/scaled_1e155",
            lambda: rp.houtman_maks_index(1e155 * P2, 1e155 * X2), lambda h: int(h) == 1))
add(correct("revealed/garp/float16_ordinary", lambda: _ordinary(np.float16),
            lambda px: np.array_equal(np.asarray(rp.garp(*px)), _exact_garp(*px))))
add(correct("revealed/houtman_maks_index/float16_ordinary",
            lambda: (rp.houtman_maks_index(*_ordinary(np.float16, 1, 10)), _ordinary(np.float16, 1, 10)),
            lambda o: np.array_equal(np.asarray(o[0]), rp.houtman_maks_index(
                *(a.astype(np.float64) for a in o[1])))))
add(correct("revealed/ccei/float16_dtype_kept", lambda: rp.ccei(*_ordinary(np.float16, 2, 5)),
            lambda c: c.dtype == jnp.float16 and bool(np.all(np.isfinite(c)))))
add(refused("revealed/budget_values/float16_ratio_overflow",
            lambda: rp.budget_values(np.array([[1.0, 1e-3], [1.0, 1.0]], np.float16),
                                     np.array([[1e-4, 0.0], [60.0, 60.0]], np.float16)),
            ValueError, "exceeds the range of float16"))

# per-element failure of the consumer indices
PB_BAD = PB.copy()
PB_BAD[1, 0, 0] = -1.0
add(correct("revealed/ccei/throw_false_bad_element", lambda: rp.ccei(PB_BAD, XB, throw=False),
            lambda c: _nan_only_at(1)(c) and np.allclose(np.delete(np.asarray(c), 1), 0.75)))
add(refused("revealed/ccei/throw_true_bad_element", lambda: rp.ccei(PB_BAD, XB), ValueError,
            "`prices` must be finite and non-negative"))
add(correct("revealed/varian_index/throw_false_bad_element",
            lambda: rp.varian_index(PB_BAD, XB, throw=False), _nan_only_at(1)))
add(correct("revealed/houtman_maks_index/throw_false_bad_element",
            lambda: rp.houtman_maks_index(PB_BAD, XB, throw=False), _nan_only_at(1)))
add(correct("revealed/budget_values/throw_false_bad_element",
            lambda: rp.budget_values(PB_BAD, XB, throw=False),
            lambda v: bool(np.all(np.isnan(v[1]))) and not np.any(np.isnan(np.asarray(v)[[0, 2]]))))
# units as peers report them
add(correct("revealed/houtman_maks_index/fraction", lambda: rp.houtman_maks_index(P2, X2, units="fraction"),
            lambda h: float(h) == 0.5))
add(correct("revealed/varian_index/waste", lambda: rp.varian_index(P2, X2, units="waste"),
            lambda v: float(v) == 0.125))
NEAR_TIE = np.array([[1.0, 1.0], [1.0 + 3e-12, 1.0 - 3e-12]])  # with P2: relations 1e-12 from ties
add(correct("revealed/houtman_maks_index/tie_tolerance",  # GARP fails exactly, holds at tol 1e-9
            lambda: [int(rp.houtman_maks_index(P2, NEAR_TIE, tol=t)) for t in (0.0, 1e-9)],
            lambda h: h == [1, 2]))
add(correct("revealed/garp/tie_tolerance", lambda: [bool(rp.garp(P2, NEAR_TIE, tol=t)) for t in (0.0, 1e-9)],
            lambda g: g == [False, True]))

# ---- concentration bound ----------------------------------------------------------------------
BOUND = {"epsilon": (-0.05, "finite and >= 0"), "num_samples": (0, "finite and >= 1"),
         "num_probes": (0, "finite and >= 1"), "num_agents": (0, "finite and >= 1"),
         "value_range": (0.0, "finite and > 0")}
for name, (bad, msg) in BOUND.items():
    kw = dict(epsilon=0.05, num_samples=1000, num_probes=3, num_agents=1, value_range=1.0)
    kw[name] = bad
    add(refused(f"revealed/concentration_bound/{name}", lambda kw=kw: rp.concentration_bound(**kw),
                ValueError, f"`{name}` must be {msg}"))
    kw = dict(kw, **{name: np.nan})
    add(refused(f"revealed/concentration_bound/{name}_nan", lambda kw=kw: rp.concentration_bound(**kw),
                ValueError, f"`{name}` must be finite"))
add(refused("revealed/concentration_bound/form", lambda: rp.concentration_bound(0.1, 10, 2, 1, 1.0, "x"),
            ValueError, "`form`"))
add(correct("revealed/concentration_bound/union_value",
            lambda: rp.concentration_bound(0.05, 1000, 3, 1, 1.0),
            lambda b: abs(float(b) - (1 - 18 * np.exp(-5.0))) < 1e-12))

# ---- rank optimality ----------------------------------------------------------------------------
add(refused("revealed/rank_table/prefs_ndim", lambda: rp.rank_table(np.ones(3)), ValueError, "`prefs`"))
add(refused("revealed/rank_table/kind", lambda: rp.rank_table(POS, kind="ordinal"), ValueError, "`kind`"))
add(refused("revealed/rank_table/positions_range", lambda: rp.rank_table(POS + 1, kind="positions"),
            ValueError, "positions in 1..D"))
add(refused("revealed/rank_table/positions_fraction",
            lambda: rp.rank_table(POS + 0.5, kind="positions"), ValueError, "integer positions"))
add(refused("revealed/rank_table/complex", lambda: rp.rank_table(POS + 0j), TypeError, "must be real"))
add(refused("revealed/rank_k/k_zero", lambda: rp.rank_k(0, POS, 0, kind="positions"), ValueError, "`k`"))
add(refused("revealed/rank_k/k_float", lambda: rp.rank_k(0, POS, 1.0, kind="positions"), ValueError, "`k`"))
add(refused("revealed/rank_k/outcome_range", lambda: rp.rank_k(3, POS, 1, kind="positions"),
            ValueError, "`outcome`"))
add(refused("revealed/rank_k/outcome_float", lambda: rp.rank_k(0.0, POS, 1, kind="positions"),
            ValueError, "`outcome`"))
add(refused("revealed/maxrank_k/k_float", lambda: rp.maxrank_k(POS, 1.0, kind="positions"), ValueError, "`k`"))
add(refused("revealed/maxrank_k/k_big", lambda: rp.maxrank_k(POS, 4, kind="positions"), ValueError, "`k`"))
add(refused("revealed/expected_rank/mu_shape", lambda: rp.expected_rank(np.ones(4) / 4, POS, kind="positions"),
            ValueError, "`mu`"))
add(refused("revealed/expected_rank/mu_complex", lambda: rp.expected_rank(np.ones(3) / 3 + 0j, POS),
            TypeError, "`mu` must be real"))
add(refused("revealed/is_rank_optimal/not_distribution",
            lambda: rp.is_rank_optimal(np.array([0.5, 0.2, 0.2]), POS, kind="positions"), ValueError,
            "probability vector"))
add(refused("revealed/is_rank_optimal/atol_nan", lambda: rp.is_rank_optimal(0, POS, kind="positions",
                                                                            atol=np.nan),
            ValueError, "`atol` must be finite"))
add(refused("revealed/is_rank_optimal/mu_index", lambda: rp.is_rank_optimal(5, POS, kind="positions"),
            ValueError, "`mu`"))
add(refused("revealed/preference_positions/nan", lambda: rp.preference_positions(np.array([[np.nan, 1.0]])),
            ValueError, "finite"))
add(refused("revealed/preference_positions/ndim", lambda: rp.preference_positions(np.ones(3)),
            ValueError, "`utilities`"))
add(refused("revealed/homogeneous_utilities/U_shape",
            lambda: rp.homogeneous_utilities(POS, np.ones(4)), ValueError, "`U`"))
add(correct("revealed/rank_optimal_outcomes/hand", lambda: rp.rank_optimal_outcomes(POS, kind="positions"),
            lambda o: o.tolist() == [True, False, False]))
