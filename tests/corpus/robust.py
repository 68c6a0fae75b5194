"""Bad input to the Wasserstein-robust gap, its separation oracle, certificates, Algorithm 2 and
the robust design objective.

Flagged cases share one compiled batched function per entry point (fixed shapes), so the corpus
compiles each entry once.
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import jaxmd_rp as rp
from jaxmd_rp._robust._host import _Layout, _orders_of
from tests.corpus import correct, flagged, refused

M, T = 2, 3
# prices[i, t] = alpha_t^i and bundles on the budget lines (rational data: the Pareto gap is 0)
P = np.array([[[0.5, 1.0], [1.0, 0.4], [0.8, 0.8]],
              [[0.3, 0.9], [0.7, 0.2], [1.1, 0.6]]])
SHARE = np.array([[0.2, 0.7, 0.5], [0.9, 0.1, 0.4]])
X = np.stack([SHARE / P[..., 0], (1 - SHARE) / P[..., 1]], -1)[None]  # (N=1, M, T, 2)
U_ALL = np.ones((M, T, T), bool)
VALUES = np.einsum("itc,isc->its", P, X[0]) - 1.0  # values[i, t, s] = g_t^i(x_s) (eq. 10)
ORDERS = np.array([[2, 0, 1], [0, 1, 2]])
NAN_FIELDS = ("value", "lower", "upper", "kappa")


def _gap(**kw):
    return lambda: rp.robust_pareto_gap(kw.pop("prices", P), kw.pop("samples", X),
                                        kw.pop("epsilon", 0.1), **kw)


def _exchange(**kw):
    return lambda: rp.exchange_method(kw.pop("prices", P), kw.pop("samples", X),
                                      kw.pop("epsilon", 0.1), **kw)


def _sep(**kw):
    return lambda: rp.separation_oracle(kw.pop("prices", P), kw.pop("sample", X[0]),
                                        kw.pop("upper", U_ALL), kw.pop("kappa", 0.3), **kw)


def _rho(a=(0.5, 0.5), prices=(1.0, 1.0), point=(0.25, 0.25), kappa=1.0, support="triangle"):
    return lambda: rp.budget_rho(np.asarray(a), np.asarray(prices), np.asarray(point), kappa,
                                 support)


# ---------------------------------------------------------------------------------------------
# batches: healthy elements plus bad ones (one compilation per entry point)


def _batch(edit):
    """(P, X, E) of 4 copies of the instance with radii 0, 0.1, 1, 0.01; `edit` spoils some."""
    Pb, Xb, Eb = np.repeat(P[None], 4, 0), np.repeat(X[None], 4, 0), np.array([0.0, 0.1, 1.0, 0.01])
    edit(Pb, Xb, Eb)
    return Pb, Xb, Eb


@functools.cache
def _gap_batched():
    return eqx.filter_jit(jax.vmap(lambda p, x, e: rp.robust_pareto_gap(p, x, e, throw=False)))


@functools.cache
def _exchange_batched():
    return eqx.filter_jit(jax.vmap(
        lambda p, x, e, d: rp.exchange_method(p, x, e, delta=d, max_iterations=8, throw=False),
        in_axes=(0, 0, 0, None)))


def _gap_batch(edit):
    return lambda: _gap_batched()(*_batch(edit))


def _exchange_batch(edit, delta=0.1):
    return lambda: _exchange_batched()(*_batch(edit), np.asarray(delta))


def _set(field, index, value):
    def edit(Pb, Xb, Eb):
        {"P": Pb, "X": Xb, "E": Eb}[field][index] = value
    return edit


def _healthy_untouched(batched):
    """The healthy elements of a batch with bad elements equal the all-healthy batch bit for bit."""
    def check(_):
        clean = batched(lambda *a: None)()
        dirty = batched(lambda Pb, Xb, Eb: (Eb.__setitem__(1, np.nan),
                                            Pb.__setitem__((2, 0, 0, 0), -1.0)))()
        ok = [0, 3]
        return all(np.array_equal(np.asarray(getattr(clean, f))[ok],
                                  np.asarray(getattr(dirty, f))[ok])
                   for f in ("value", "lower", "upper", "kappa", "orders"))
    return check


# ---------------------------------------------------------------------------------------------
# games for the game API


class _ScalarGame(rp.AbstractGame):
    """Scalar actions with budgets g^i = a_i x_i + c x_j - 1 (c = 0: own-action rows)."""

    num_agents = 2
    action_dim = None
    theta_dim = 1
    probe_dim = 2
    cross: float = 0.0
    sign: float = 1.0

    def utilities(self, theta, x):
        return x

    def constraints(self, probe, x):
        return probe * x - 1.0

    def revealed_constraints(self, probe, x):
        return self.sign * probe * x + self.cross * x[::-1] - 1.0


PROBES2 = np.array([[0.5, 0.8], [0.9, 0.3], [0.6, 0.6]])
X2 = 0.9 / PROBES2  # inside {a x <= 1}
RIVER = rp.games.RiverPollution


@functools.cache
def _river_equilibria():
    game = RIVER()
    probes = jnp.full((3, 3), 0.5) + jnp.arange(3.0)[:, None] * 0.1
    return probes, jax.vmap(lambda p: rp.solve_equilibrium(game, jnp.full(7, 0.3), p).x)(probes)


def _river_case(reading):
    """The river game's equilibria (the same for every probe reading) read through shared rows."""
    def call():
        probes, x = _river_equilibria()
        return rp.robust_pareto_gap_game(RIVER(probe_reading=reading), probes, x, 0.1)
    return call


def _game_gap(game=None, probes=PROBES2, strategies=X2, epsilon=0.1, **kw):
    return lambda: rp.robust_pareto_gap_game(_ScalarGame() if game is None else game, probes,
                                             strategies, epsilon, **kw)


# ---------------------------------------------------------------------------------------------
# checks of correct answers


def _certificate_property(out):
    """c_st = (u_s - u_t)/lambda_t in [0, eta] when s is at or above t, <= -G below (eta = 0.1)."""
    u, lam = (np.asarray(z) for z in out)
    U = np.asarray(rp.upper_mask(ORDERS))
    c = (u[:, :, None] - u[:, None, :]) / lam[:, None, :]
    return (np.all(lam >= 1 - 1e-12) and np.all(c[U] >= -1e-12) and np.all(c[U] <= 0.1 + 1e-12)
            and np.all(c[~U] <= -1.0 + 1e-12))


def _milp_one_cut():
    """One sample, one agent, T = 2, one cut (b, d): the master is
    min_{kappa, order} eps kappa + max(0, max_U b - d kappa); with b = [[0.2, 0.6], [0.5, 0.1]]
    the best order puts 1 on top (max_U b = max(0.5, 0.1, 0.2) = 0.5), and with eps = 0.1 < d = 1
    the optimum is kappa = 0.5, value 0.05."""
    b = np.array([[[0.2, 0.6], [0.5, 0.1]]])
    return rp.milp_master([[(b, 1.0)]], 0.1, 2.0, 1, 1, 2)


# ---------------------------------------------------------------------------------------------

A = "robust/robust_pareto_gap"
G = "robust/robust_pareto_gap_game"
EX = "robust/exchange_method"
S = "robust/separation_oracle"
R = "robust/budget_rho"
C = "robust/certificate_from_orders"
O = "robust/RobustGapObjective"
BAD_EPS = r"`epsilon` \(the Wasserstein radius\) is NaN, infinite or negative"
BAD_DATA = r"`prices` must be finite and > 0 and every sample must lie in its budget set"
X_OUT = X * 1.5  # outside the budget sets
X_NEG = X.copy()
X_NEG[0, 0, 0, 0] = -0.1
X_NAN = X.copy()
X_NAN[0, 1, 2, 1] = np.nan
X_OFF_LINE = X * 0.9  # inside the triangles, off the budget lines
X_DISTINCT = np.concatenate([X, X * 0.9])

CASES = [
    # ---- robust_pareto_gap: structure
    refused(f"{A}/prices-ndim", _gap(prices=P[0]), ValueError, r"`prices` must have shape \(M, T, k\)"),
    refused(f"{A}/prices-no-agents", _gap(prices=P[:0], samples=X[:, :0]), ValueError,
            "needs at least one agent and one probe"),
    refused(f"{A}/prices-three-goods", _gap(prices=np.ones((M, T, 3)), samples=np.zeros((1, M, T, 3))),
            ValueError, "k = 1 or 2 goods"),
    refused(f"{A}/samples-ndim", _gap(samples=X[0]), ValueError, r"`samples` must have shape \(N, M, T, k\)"),
    refused(f"{A}/samples-empty", _gap(samples=X[:0]), ValueError, r"`samples` is empty \(N = 0\)"),
    refused(f"{A}/samples-mismatch", _gap(samples=X[:, :, :2]), ValueError, "to match `prices`"),
    refused(f"{A}/epsilon-vector", _gap(epsilon=np.array([0.1, 0.2])), ValueError,
            "`epsilon` must be a scalar"),
    refused(f"{A}/epsilon-complex", _gap(epsilon=0.1 + 1j), TypeError, "`epsilon` must be real"),
    refused(f"{A}/prices-complex", _gap(prices=P + 0j), TypeError, "`prices` must be real"),
    refused(f"{A}/samples-bool", _gap(samples=X > 1), TypeError, "`samples` must be real"),
    refused(f"{A}/support-unknown", _gap(support="disc"), ValueError, "`support` must be 'triangle' or 'line'"),
    refused(f"{A}/tol-negative", _gap(tol=-1.0), ValueError, r"`tol` must be > 0 \(not NaN\)"),
    refused(f"{A}/tol-nan", _gap(tol=np.nan), ValueError, r"`tol` must be > 0 \(not NaN\)"),
    refused(f"{A}/grid-below-keep", _gap(grid=3, keep=4), ValueError, "grid >= keep \\+ 1"),
    refused(f"{A}/rounds-negative", _gap(rounds=-1), ValueError, "`rounds` must be >= 0"),
    refused(f"{A}/keep-bool", _gap(keep=True), TypeError, "`keep` must be an integer"),
    refused(f"{A}/golden-float", _gap(golden=3.5), TypeError, "`golden` must be an integer"),
    refused(f"{A}/exact-under-jit",
            lambda: jax.jit(lambda e: rp.robust_pareto_gap(P, X, e, exact=True).value)(0.1),
            ValueError, "runs SciPy on the host and cannot be traced"),
    # ---- robust_pareto_gap: values (concrete: ValueError; traced: the same message at run time)
    refused(f"{A}/epsilon-negative", _gap(epsilon=-0.1), ValueError, BAD_EPS),
    refused(f"{A}/epsilon-nan", _gap(epsilon=np.nan), ValueError, BAD_EPS),
    refused(f"{A}/epsilon-inf", _gap(epsilon=np.inf), ValueError, BAD_EPS),
    refused(f"{A}/prices-negative", _gap(prices=-P), ValueError, BAD_DATA),
    refused(f"{A}/prices-nan", _gap(prices=np.where(P > 1.0, np.nan, P)), ValueError, BAD_DATA),
    refused(f"{A}/samples-outside-budget", _gap(samples=X_OUT), ValueError, BAD_DATA),
    refused(f"{A}/samples-negative", _gap(samples=X_NEG), ValueError, BAD_DATA),
    refused(f"{A}/samples-nan", _gap(samples=X_NAN), ValueError, BAD_DATA),
    refused(f"{A}/samples-off-line", _gap(samples=X_OFF_LINE, support="line"), ValueError,
            r"and = 1 for support='line'"),
    refused(f"{A}/exact-epsilon-negative", _gap(epsilon=-1.0, exact=True), ValueError, BAD_EPS),
    refused(f"{A}/traced-epsilon-negative",
            lambda: eqx.filter_jit(lambda e: rp.robust_pareto_gap(P, X, e))(-0.1),
            eqx.EquinoxRuntimeError, BAD_EPS),
    # ---- robust_pareto_gap: one bad element of a batch (throw=False)
    flagged(f"{A}/batch-epsilon-nan", _gap_batch(_set("E", 1, np.nan)), "invalid_epsilon",
            where=1, nan=NAN_FIELDS),
    flagged(f"{A}/batch-epsilon-negative", _gap_batch(_set("E", 2, -1.0)), "invalid_epsilon",
            where=2, nan=NAN_FIELDS),
    flagged(f"{A}/batch-price-negative", _gap_batch(_set("P", (3, 1, 2, 0), -0.5)),
            "invalid_samples", where=3, nan=NAN_FIELDS),
    flagged(f"{A}/batch-sample-outside", _gap_batch(_set("X", (0, 0, 0, 1, 1), 50.0)),
            "invalid_samples", where=0, nan=NAN_FIELDS),
    flagged(f"{A}/batch-sample-nan", _gap_batch(_set("X", (1, 0, 1, 0, 0), np.nan)),
            "invalid_samples", where=1, nan=NAN_FIELDS),
    flagged(f"{A}/batch-healthy-elements", _gap_batch(_set("E", 1, np.nan)), "successful",
            where=[0, 2, 3]),
    correct(f"{A}/batch-healthy-bit-identical", lambda: None, _healthy_untouched(_gap_batch)),
    correct(f"{A}/batch-orders-minus-one", _gap_batch(_set("E", 1, np.nan)),
            lambda s: np.all(np.asarray(s.orders)[1] == -1) and np.all(np.asarray(s.orders)[0] >= 0)),
    correct(f"{A}/eps-zero-is-the-pareto-gap", _gap_batch(lambda *a: None),
            lambda s: abs(float(s.value[0]) - float(rp.pareto_gap(VALUES))) <= 1e-12),
    flagged(f"{A}/exact-invalid-no-throw", _gap(epsilon=np.nan, exact=True, throw=False),
            "invalid_epsilon", nan=NAN_FIELDS),
    # ---- robust_pareto_gap_game
    refused(f"{G}/not-a-game", _game_gap(game=object()), TypeError, "`game` must be an AbstractGame"),
    refused(f"{G}/probes-shape", _game_gap(probes=PROBES2[:, :1]), ValueError,
            r"`probes` must have shape \(T, 2\)"),
    refused(f"{G}/strategies-shape", _game_gap(strategies=X2[:2]), ValueError,
            r"`strategies` must have shape \(T, \*action_shape\)"),
    refused(f"{G}/strategies-empty", _game_gap(strategies=np.zeros((3, 0, 2))), ValueError,
            r"`strategies` is empty \(N = 0\)"),
    refused(f"{G}/strategies-complex", _game_gap(strategies=X2 + 0j), TypeError,
            "`strategies` must be real"),
    refused(f"{G}/vector-actions",
            lambda: rp.robust_pareto_gap_game(rp.games.InspectionGame(), np.full((2, 2), 0.5),
                                              np.full((2, 2, 2), 0.5), 0.1),
            ValueError, "supports linear-budget games"),
    refused(f"{G}/river-shared-rows", _river_case("shared"), ValueError,
            "needs probe rows that each depend on one player's own action"),
    refused(f"{G}/river-station-rows", _river_case("station"), ValueError,
            "needs one probe row per player"),
    refused(f"{G}/cross-dependent-rows", _game_gap(game=_ScalarGame(cross=0.1),
                                                  strategies=0.5 / PROBES2),
            ValueError, r"non-zero entry d g\^i / d x_j"),
    refused(f"{G}/decreasing-rows", _game_gap(game=_ScalarGame(sign=-1.0), strategies=X2),
            ValueError, r"or a negative d g\^i / d x_i"),
    refused(f"{G}/epsilon-nan", _game_gap(epsilon=np.nan), ValueError, BAD_EPS),
    refused(f"{G}/strategies-outside", _game_gap(strategies=1.2 / PROBES2), ValueError,
            "through the game API the strategies must be finite"),
    refused(f"{G}/strategies-below-lower", _game_gap(strategies=-X2), ValueError,
            "through the game API the strategies must be finite"),
    # ---- exchange_method
    refused(f"{EX}/master-unknown", _exchange(master="lp"), ValueError,
            "`master` must be 'closure' or 'milp'"),
    refused(f"{EX}/max-iterations-zero", _exchange(max_iterations=0), ValueError,
            "`max_iterations` must be >= 1"),
    refused(f"{EX}/max-iterations-bool", _exchange(max_iterations=True), TypeError,
            "`max_iterations` must be an integer"),
    refused(f"{EX}/max-iterations-float", _exchange(max_iterations=4.0), TypeError,
            "`max_iterations` must be an integer"),
    refused(f"{EX}/delta-nan", _exchange(delta=np.nan), ValueError, "`delta` must not be NaN"),
    refused(f"{EX}/relative-tol-negative", _exchange(relative_tol=-0.1), ValueError,
            "`relative_tol` must be >= 0"),
    refused(f"{EX}/relative-tol-nan", _exchange(relative_tol=np.nan), ValueError,
            "`relative_tol` must be >= 0"),
    refused(f"{EX}/epsilon-negative", _exchange(epsilon=-1.0), ValueError, BAD_EPS),
    refused(f"{EX}/samples-outside", _exchange(samples=X_OUT), ValueError, BAD_DATA),
    refused(f"{EX}/closure-distinct-samples", _exchange(samples=X_DISTINCT), ValueError,
            "needs one sample or identical samples"),
    refused(f"{EX}/milp-under-jit",
            lambda: jax.jit(lambda e: rp.exchange_method(P, X, e, master="milp").value)(0.1),
            ValueError, "runs SciPy on the host"),
    flagged(f"{EX}/milp-invalid-no-throw",
            _exchange(samples=X_OUT, master="milp", throw=False), "invalid_samples",
            nan=NAN_FIELDS + ("max_cv",)),
    flagged(f"{EX}/batch-epsilon-nan", _exchange_batch(_set("E", 2, np.nan)), "invalid_epsilon",
            where=2, nan=NAN_FIELDS + ("max_cv", "history_upper")),
    flagged(f"{EX}/batch-price-zero", _exchange_batch(_set("P", (1, 0, 0, 1), 0.0)),
            "invalid_samples", where=1, nan=NAN_FIELDS),
    flagged(f"{EX}/batch-cap-reached", _exchange_batch(lambda *a: None, delta=-np.inf),
            "exchange_max_iterations"),
    correct(f"{EX}/batch-healthy-bit-identical", lambda: None,
            _healthy_untouched(_exchange_batch)),
    correct(f"{EX}/batch-no-iterations-for-bad", _exchange_batch(_set("E", 2, np.nan)),
            lambda s: int(s.iterations[2]) == 0 and int(s.iterations[1]) >= 1),
    # ---- separation_oracle
    refused(f"{S}/upper-not-bool", _sep(upper=np.ones((M, T, T))), ValueError,
            "`upper` must be a boolean array"),
    refused(f"{S}/upper-shape", _sep(upper=U_ALL[:, :2]), ValueError, "`upper` must be a boolean array"),
    refused(f"{S}/kappa-negative", _sep(kappa=-1.0), ValueError, "`kappa` must be finite and >= 0"),
    refused(f"{S}/kappa-nan", _sep(kappa=np.nan), ValueError, "`kappa` must be finite and >= 0"),
    refused(f"{S}/v-nan", _sep(v=np.nan), ValueError, "`v` must be finite"),
    refused(f"{S}/sample-outside", _sep(sample=X_OUT[0]), ValueError, BAD_DATA),
    flagged(f"{S}/sample-outside-no-throw", _sep(sample=X_OUT[0], throw=False), "invalid_samples",
            nan=("value", "cv", "point", "distance")),
    correct(f"{S}/kappa-zero-moves-to-origin", _sep(kappa=0.0),
            lambda s: abs(float(s.value) - 1.0) <= 1e-15 and np.all(np.asarray(s.point) == 0.0)),
    # ---- budget_rho
    refused(f"{R}/three-goods", _rho(a=(1.0, 1.0, 1.0), prices=(1.0, 1.0, 1.0), point=(0.1, 0.1, 0.1)),
            ValueError, "vectors of the same length k in"),
    refused(f"{R}/kappa-negative", _rho(kappa=-0.5), ValueError, "`kappa` must be finite and >= 0"),
    refused(f"{R}/point-outside", _rho(point=(0.8, 0.8)), ValueError, "`point` must lie in the budget set"),
    refused(f"{R}/prices-zero", _rho(prices=(0.0, 1.0)), ValueError, "`prices` must be finite and > 0"),
    refused(f"{R}/a-complex", _rho(a=(1j, 0.5)), TypeError, "`a` must be real"),
    refused(f"{R}/support-unknown", _rho(support="box"), ValueError, "`support` must be"),
    correct(f"{R}/kappa-zero-origin", _rho(kappa=0.0),
            lambda out: float(out[0]) == 0.0 and np.all(np.asarray(out[1]) == 0.0)),
    correct(f"{R}/kappa-large-stays", _rho(kappa=10.0),
            lambda out: abs(float(out[0]) - 0.25) <= 1e-15),  # <a, g> = 0.5*0.25 + 0.5*0.25
    # ---- certificate_from_orders and upper_mask
    refused(f"{C}/not-a-permutation", lambda: rp.certificate_from_orders(np.array([[0, 0, 2]]), 0.1),
            ValueError, "must be a permutation of 0..T-1"),
    refused(f"{C}/out-of-range", lambda: rp.certificate_from_orders(np.array([[0, 1, 3]]), 0.1),
            ValueError, "must be a permutation of 0..T-1"),
    refused(f"{C}/float-orders", lambda: rp.certificate_from_orders(ORDERS * 1.0, 0.1), TypeError,
            "`orders` must be an integer array"),
    refused(f"{C}/orders-1d", lambda: rp.certificate_from_orders(np.arange(3), 0.1), ValueError,
            r"`orders` must have shape \(\.\.\., M, T\)"),
    refused(f"{C}/eta-zero", lambda: rp.certificate_from_orders(ORDERS, 0.0), ValueError,
            "`eta` must be finite and > 0"),
    refused(f"{C}/eta-negative", lambda: rp.certificate_from_orders(ORDERS, -0.1), ValueError,
            "`eta` must be finite and > 0"),
    refused(f"{C}/eta-nan", lambda: rp.certificate_from_orders(ORDERS, np.nan), ValueError,
            "`eta` must be finite and > 0"),
    refused(f"{C}/eta-inf", lambda: rp.certificate_from_orders(ORDERS, np.inf), ValueError,
            "`eta` must be finite and > 0"),
    refused(f"{C}/G-negative", lambda: rp.certificate_from_orders(ORDERS, 0.1, G=-1.0), ValueError,
            "`G` must be finite and > 0"),
    refused(f"{C}/eta-too-small", lambda: rp.certificate_from_orders(np.arange(60)[None], 1e-6),
            ValueError, "`eta` is too small for T = 60"),
    refused(f"{C}/eta-beyond-precision",  # (1 + 1/0.01)^7 = 1e14: c off by 8e-5 relative
            lambda: rp.certificate_from_orders(np.arange(8)[None], 0.01), ValueError,
            "`eta` is too small for T = 8 in float64"),
    refused(f"{C}/traced-not-a-permutation",
            lambda: eqx.filter_jit(rp.certificate_from_orders)(np.array([[1, 1, 0]]), 0.1),
            eqx.EquinoxRuntimeError, "must be a permutation of 0..T-1"),
    correct(f"{C}/construction-property", lambda: rp.certificate_from_orders(ORDERS, 0.1),
            _certificate_property),
    refused("robust/upper_mask/float-orders", lambda: rp.upper_mask(ORDERS * 1.0), TypeError,
            "`orders` must be an integer array"),
    refused("robust/upper_mask/not-a-permutation", lambda: rp.upper_mask(np.array([[2, 2, 0]])),
            ValueError, "must be a permutation of 0..T-1"),
    correct("robust/upper_mask/known-mask", lambda: rp.upper_mask(np.array([[2, 0, 1]])),
            lambda U: np.array_equal(np.asarray(U[0]), np.array([[True, True, False],
                                                                  [False, True, False],
                                                                  [True, True, True]]))),
    # ---- milp_master
    correct("robust/milp_master/one-cut-analytic", _milp_one_cut,
            lambda out: abs(out[0] - 0.05) <= 1e-9 and abs(out[1] - 0.5) <= 1e-9
            and np.array_equal(out[3], np.array([[1, 0]]))),
    correct("robust/milp_master/rejects-intransitive-binaries",
            lambda: _orders_of(np.array([0.0, 0.0, 1.0, 0.0, 1.0]), _Layout(1, 1, 3)),
            lambda out: not out[1]),  # x01 = 1, x02 = 0, x12 = 1: a 3-cycle
    # ---- RobustGapObjective
    refused(f"{O}/bound-unknown", lambda: rp.RobustGapObjective(rp.games.BudgetGame(), 0.1, bound="mid"),
            ValueError, "`bound` must be 'value', 'upper' or 'lower'"),
    refused(f"{O}/epsilon-negative", lambda: rp.RobustGapObjective(rp.games.BudgetGame(), -0.1),
            ValueError, "`epsilon` must be a finite scalar >= 0"),
    refused(f"{O}/epsilon-nan", lambda: rp.RobustGapObjective(rp.games.BudgetGame(), np.nan),
            ValueError, "`epsilon` must be a finite scalar >= 0"),
    refused(f"{O}/tremble-vector-actions",
            lambda: rp.RobustGapObjective(rp.games.BudgetGame(), 0.1, tremble=0.2), ValueError,
            "`tremble` is for scalar-action games"),
    refused(f"{O}/tremble-above-one", lambda: rp.RobustGapObjective(_ScalarGame(), 0.1, tremble=1.5),
            ValueError, r"`noise` must be in \[0, 1\] for noise_model='tremble'"),
    refused(f"{O}/num-samples-zero",
            lambda: rp.RobustGapObjective(rp.games.BudgetGame(), 0.1, num_samples=0), ValueError,
            "`num_samples` must be an integer >= 1 or None"),
    refused(f"{O}/fresh-probes-without-T",
            lambda: rp.RobustGapObjective(rp.games.BudgetGame(), 0.1, fresh_probes=True),
            ValueError, "`fresh_probes=True` needs `num_probes`"),
    refused(f"{O}/support-unknown",
            lambda: rp.RobustGapObjective(rp.games.BudgetGame(), 0.1, support="disc"), ValueError,
            "`support` must be 'triangle' or 'line'"),
    refused(f"{O}/not-a-game", lambda: rp.RobustGapObjective(object(), 0.1), TypeError,
            "`game` must be an AbstractGame"),
    refused(f"{O}/random-without-key",
            lambda: rp.RobustGapObjective(rp.games.BudgetGame(), 0.1)(jnp.zeros(3), jnp.full((3, 6), 0.5)),
            ValueError, "`key` is required: RobustGapObjective is random"),
]
