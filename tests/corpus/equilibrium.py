"""Bad-input corpus: solve_equilibrium, social_optimum, welfare_report and probe_values.

Refused cases fail at trace time with the argument or the user game's method named; flagged cases
return the exact result code with NaN outputs (the failed-element policy); correct cases pin the
fixed behaviour (free variables, far bounds, safeguarded NIRA, healthy elements of a batch).
Cases that share a game and static arguments share one compilation.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import jaxmd_rp as rp

from . import correct, flagged, refused

RIVER = rp.games.RiverPollution()
TH = jnp.asarray(rp.games.DEFAULT_THETA)
PR = jnp.asarray(rp.games.DEFAULT_PROBE)


class Duopoly(rp.AbstractGame):
    """Cournot duopoly, price 10 - theta (q1 + q2), unit cost 1, capacity cap (the probe)."""

    num_agents = 2
    theta_dim = 1
    probe_dim = 1

    def utilities(self, theta, x):
        return (10.0 - theta[0] * jnp.sum(x) - 1.0) * x

    def constraints(self, probe, x):
        return x - probe[0]

    def revealed_constraints(self, probe, x):
        return x / probe[0] - 1.0

    @property
    def kkt_affine(self):
        return True


def _variant(name, **methods):
    """A Duopoly subclass overriding methods/properties (the game is a user's, with a mistake)."""
    return type(name, (Duopoly,), methods)()


def _method(fn):
    return lambda self, a, x: fn(a, x)


def _prop(value):
    return property(lambda self: value)


SHORT = _variant("Short", utilities=_method(lambda t, x: (10.0 - t[0] * jnp.sum(x)) * x[:1]))
SCALAR_U = _variant("ScalarU", utilities=_method(lambda t, x: jnp.sum(x)))
NONE_U = _variant("NoneU", utilities=_method(lambda t, x: None))
DICT_U = _variant("DictU", utilities=_method(lambda t, x: {"u": x}))
INT_U = _variant("IntU", utilities=_method(lambda t, x: jnp.array([1, 2])))
COL_U = _variant("ColU", utilities=_method(lambda t, x: x[:, None]))
MAT_H = _variant("MatH", constraints=_method(lambda p, x: jnp.ones((2, 2)) * x[0]))
SCALAR_H = _variant("ScalarH", constraints=_method(lambda p, x: jnp.sum(x) - p[0]))
NONE_H = _variant("NoneH", constraints=_method(lambda p, x: None))
MAT_E = _variant("MatE", equality_constraints=_method(lambda p, x: jnp.ones((1, 1)) * x[0]))
MAT_G = _variant("MatG", revealed_constraints=_method(lambda p, x: jnp.ones((2, 2)) * x[0]))
NONE_G = _variant("NoneG", revealed_constraints=_method(lambda p, x: None))
VEC_W = _variant("VecW", welfare=lambda self, t, x: x)

# convex payoffs: a stationary point is a minimum, not a Nash equilibrium
CAPPED_CONVEX = _variant("CappedConvex",
                         utilities=_method(lambda t, x: jnp.sum(x) * x),
                         kkt_affine=_prop(False))
CONVEX_OWN = _variant("ConvexOwn", utilities=_method(lambda t, x: x**2 - 3.0 * x),
                      constraints=_method(lambda p, x: x - 100.0), kkt_affine=_prop(False))
CONVEX_WELFARE = _variant("ConvexWelfare", welfare=lambda self, t, x: jnp.sum((x - 1.0) ** 2),
                          kkt_affine=_prop(False))
NEGATIVE_WELFARE = _variant("NegativeWelfare", welfare=lambda self, t, x: -1.0 - jnp.sum(x**2))
# q1 + q2 <= cap - 5: an empty feasible set for cap < 5
EMPTY = _variant("Empty", constraints=_method(lambda p, x: jnp.array([jnp.sum(x) - p[0] + 5.0])))
FAR_LOWER = _variant("FarLower", lower=_prop(-1e6))
FREE = _variant("Free", lower=_prop(-jnp.inf))
TRACED_BOUND = type("TracedBound", (Duopoly,), {
    "__annotations__": {"lb": jax.Array}, "lower": property(lambda self: self.lb)})


class Switching(rp.AbstractGame):
    """Facchinei & Kanzow's A.14 (internet switching): NIRA-3's fixed step 0.5 cycles here."""

    num_agents = 10

    @property
    def lower(self):
        return 0.01

    def utilities(self, theta, x):
        S = jnp.sum(x)
        return x / S * (1.0 - S)

    def constraints(self, probe, x):
        return (jnp.sum(x) - 1.0)[None]


ONE, CAP = jnp.array([1.0]), jnp.array([100.0])


def _eq(game, theta=ONE, probe=CAP, solver=None, **kw):
    return rp.solve_equilibrium(game, theta, probe, solver, **kw)


def _river(theta=TH, probe=PR, **kw):
    return rp.solve_equilibrium(RIVER, theta, probe, throw=False, **kw)


def _so(theta=TH, probe=PR, game=RIVER, **kw):
    return rp.social_optimum(game, theta, probe, throw=False, **kw)


def _grad_at_failure():
    bad = TH.at[0].set(2.0)  # outside Theta = [0, 1]^7
    return jax.grad(lambda t: jnp.sum(_river(t).x))(bad)


def _batch_with_one_bad():
    thetas = jnp.stack([TH, TH.at[1].set(jnp.nan), TH * 0.5])
    return jax.vmap(lambda t: _river(t))(thetas)


def _healthy_untouched():
    batch = _batch_with_one_bad()
    singles = [_river(TH), _river(TH * 0.5)]
    return (bool(batch.success[0]) and bool(batch.success[2])
            and np.array_equal(batch.x[0], singles[0].x) and np.array_equal(batch.x[2], singles[1].x))


def _nan_everywhere(sol):
    return bool(np.all(np.isnan(np.asarray(sol.x))))


NEWTON = rp.SemismoothNewton()
ENUM = rp.ActiveSetEnumeration()

CASES = [
    # ------------------------------------------------------------- solve_equilibrium: arguments
    refused("equilibrium/solve/game_not_a_game", lambda: rp.solve_equilibrium(object(), TH, PR),
            TypeError, r"`game` must be an AbstractGame; got object"),
    refused("equilibrium/solve/theta_length", lambda: rp.solve_equilibrium(RIVER, TH[:6], PR),
            ValueError, r"`theta` must be a 1-D array of shape \(7,\); got shape \(6,\)"),
    refused("equilibrium/solve/theta_2d", lambda: rp.solve_equilibrium(RIVER, TH[None], PR),
            ValueError, r"`theta` must be a 1-D array of shape \(7,\); got shape \(1, 7\)"),
    refused("equilibrium/solve/theta_missing", lambda: rp.solve_equilibrium(RIVER, None, PR),
            ValueError, r"`theta` is required: the game has theta_dim = 7"),
    refused("equilibrium/solve/probe_missing", lambda: rp.solve_equilibrium(RIVER, TH),
            ValueError, r"`probe` is required: the game has probe_dim = 3"),
    refused("equilibrium/solve/probe_shape", lambda: rp.solve_equilibrium(RIVER, TH, PR[:, None]),
            ValueError, r"`probe` must be a 1-D array of shape \(3,\); got shape \(3, 1\)"),
    refused("equilibrium/solve/theta_complex",
            lambda: rp.solve_equilibrium(RIVER, TH.astype(jnp.complex128), PR), TypeError,
            r"`theta` must be real; got dtype complex128"),
    refused("equilibrium/solve/probe_complex",
            lambda: rp.solve_equilibrium(RIVER, TH, PR.astype(jnp.complex128)), TypeError,
            r"`probe` must be real; got dtype complex128"),
    refused("equilibrium/solve/theta_strings",
            lambda: rp.solve_equilibrium(RIVER, np.array(["a"] * 7), PR), TypeError,
            r"`theta` must hold real numbers; got dtype <U1"),
    refused("equilibrium/solve/theta_list_length",
            lambda: rp.solve_equilibrium(RIVER, [0.1] * 3, PR), ValueError,
            r"`theta` must be a 1-D array of shape \(7,\); got shape \(3,\)"),
    refused("equilibrium/solve/x0_shape", lambda: rp.solve_equilibrium(RIVER, TH, PR, x0=jnp.ones(2)),
            ValueError, r"`x0` must have shape \(3,\) \(the game's action_shape\); got \(2,\)"),
    refused("equilibrium/solve/tol_nan", lambda: rp.solve_equilibrium(RIVER, TH, PR, tol=float("nan")),
            ValueError, r"`tol` must be a finite number > 0; got nan"),
    refused("equilibrium/solve/tol_zero", lambda: rp.solve_equilibrium(RIVER, TH, PR, tol=0.0),
            ValueError, r"`tol` must be a finite number > 0; got 0.0"),
    refused("equilibrium/solve/tol_negative", lambda: rp.solve_equilibrium(RIVER, TH, PR, tol=-1.0),
            ValueError, r"`tol` must be a finite number > 0; got -1.0"),
    refused("equilibrium/solve/tol_inf", lambda: rp.solve_equilibrium(RIVER, TH, PR, tol=float("inf")),
            ValueError, r"`tol` must be a finite number > 0; got inf"),
    refused("equilibrium/solve/tol_complex", lambda: rp.solve_equilibrium(RIVER, TH, PR, tol=1e-8j),
            ValueError, r"`tol` must be a finite number > 0; got 1e-08j"),
    refused("equilibrium/solve/max_steps_negative",
            lambda: rp.solve_equilibrium(RIVER, TH, PR, max_steps=-1), ValueError,
            r"`max_steps` must be an integer >= 0; got -1"),
    refused("equilibrium/solve/max_steps_float",
            lambda: rp.solve_equilibrium(RIVER, TH, PR, max_steps=2.5), ValueError,
            r"`max_steps` must be an integer >= 0; got 2.5"),
    refused("equilibrium/solve/max_steps_bool",
            lambda: rp.solve_equilibrium(RIVER, TH, PR, max_steps=True), ValueError,
            r"`max_steps` must be an integer >= 0; got True"),
    refused("equilibrium/solve/solver_string",
            lambda: rp.solve_equilibrium(RIVER, TH, PR, "newton"), TypeError,
            r"`solver` must be an AbstractEquilibriumSolver .*; got str"),
    refused("equilibrium/solve/enumeration_max_size",
            lambda: rp.solve_equilibrium(RIVER, TH, PR, rp.ActiveSetEnumeration(max_size=4)),
            ValueError, r"5 complementarity pairs and 32 active-set patterns, more than "
                        r"2\^max_size = 2\^4 \(max_size = 4, as set\)"),
    refused("equilibrium/solve/enumeration_traced_bounds",
            lambda: _eq(TRACED_BOUND(lb=jnp.zeros(2)), solver=ENUM), ValueError,
            r"ActiveSetEnumeration needs action bounds whose finiteness is known at trace time"),
    # ------------------------------------------------------- solve_equilibrium: user game output
    refused("equilibrium/user/utilities_too_few", lambda: _eq(SHORT), ValueError,
            r"`Short.utilities` must return one utility per player, a float array, shape \(2,\); "
            r"got shape \(1,\)"),
    refused("equilibrium/user/utilities_scalar", lambda: _eq(SCALAR_U), ValueError,
            r"`ScalarU.utilities` must return one utility per player.*got shape \(\)"),
    refused("equilibrium/user/utilities_none", lambda: _eq(NONE_U), TypeError,
            r"`NoneU.utilities` returned None; it must return one utility per player"),
    refused("equilibrium/user/utilities_dict", lambda: _eq(DICT_U), TypeError,
            r"`DictU.utilities` returned a dict, not an array"),
    refused("equilibrium/user/utilities_int", lambda: _eq(INT_U), TypeError,
            r"`IntU.utilities` returned an array of dtype int64.*real floating dtype"),
    refused("equilibrium/user/utilities_column", lambda: _eq(COL_U), ValueError,
            r"`ColU.utilities` must return one utility per player.*got shape \(2, 1\)"),
    refused("equilibrium/user/constraints_matrix", lambda: _eq(MAT_H), ValueError,
            r"`MatH.constraints` must return a 1-D float array \(C,\) of constraint values"),
    refused("equilibrium/user/constraints_scalar", lambda: _eq(SCALAR_H), ValueError,
            r"`ScalarH.constraints` must return a 1-D float array.*got shape \(\)"),
    refused("equilibrium/user/constraints_none", lambda: _eq(NONE_H), TypeError,
            r"`NoneH.constraints` returned None"),
    refused("equilibrium/user/equalities_matrix", lambda: _eq(MAT_E), ValueError,
            r"`MatE.equality_constraints` must return a 1-D float array \(E,\)"),
    refused("equilibrium/user/nira_owned",
            lambda: _eq(_variant("Owned", constraint_owners=_prop((0, 1))),
                        solver=rp.NikaidoIsoda()), ValueError,
            r"NikaidoIsoda computes normalized equilibria of games whose constraints are all shared"),
    # --------------------------------------------------------------- solve_equilibrium: flagged
    flagged("equilibrium/solve/theta_nan", lambda: _river(TH.at[0].set(jnp.nan)), "invalid_theta",
            nan=("x", "multipliers")),
    flagged("equilibrium/solve/theta_above_box", lambda: _river(TH.at[2].set(1.5)),
            "invalid_theta", nan=("x", "multipliers")),
    flagged("equilibrium/solve/theta_below_box", lambda: _river(TH.at[2].set(-0.1)),
            "invalid_theta", nan=("x",)),
    flagged("equilibrium/solve/theta_inf", lambda: _river(TH.at[4].set(jnp.inf)), "invalid_theta",
            nan=("x",)),
    flagged("equilibrium/solve/probe_inf", lambda: _river(probe=PR.at[1].set(jnp.inf)),
            "invalid_probe", nan=("x", "multipliers")),
    flagged("equilibrium/solve/probe_above_box", lambda: _river(probe=PR.at[1].set(1.2)),
            "invalid_probe", nan=("x",)),
    flagged("equilibrium/solve/probe_nan", lambda: _river(probe=PR.at[0].set(jnp.nan)),
            "invalid_probe", nan=("x",)),
    flagged("equilibrium/solve/theta_and_probe_bad",
            lambda: _river(TH.at[0].set(2.0), PR.at[0].set(-1.0)), "invalid_theta", nan=("x",)),
    flagged("equilibrium/solve/batch_one_bad", _batch_with_one_bad, "invalid_theta", where=[1],
            nan=("x", "multipliers")),
    flagged("equilibrium/solve/no_equilibrium_linear_profits",
            lambda: rp.solve_equilibrium(RIVER, jnp.zeros(7), jnp.zeros(3), NEWTON, throw=False),
            "nonlinear_max_steps_reached", nan=("x",)),
    flagged("equilibrium/solve/max_steps_reached",
            lambda: rp.solve_equilibrium(RIVER, TH, PR, NEWTON, max_steps=1, throw=False),
            "nonlinear_max_steps_reached", nan=("x", "multipliers")),
    flagged("equilibrium/solve/convex_payoff_capped",
            lambda: _eq(CAPPED_CONVEX, probe=jnp.array([5.0]), throw=False), "not_concave",
            nan=("x",)),
    flagged("equilibrium/solve/convex_own_payoff", lambda: _eq(CONVEX_OWN, throw=False),
            "not_concave", nan=("x",)),
    flagged("equilibrium/solve/printed_river_interior",
            lambda: rp.solve_equilibrium(rp.games.RiverPollution(variant="printed"), TH,
                                         jnp.full(3, 1e-4), NEWTON, throw=False),
            "nonlinear_max_steps_reached", nan=("x",)),
    flagged("equilibrium/solve/empty_feasible_set_affine",
            lambda: _eq(EMPTY, probe=jnp.array([1.0]), throw=False), "primal_infeasible",
            nan=("x",)),
    flagged("equilibrium/solve/empty_feasible_set_newton",
            lambda: _eq(EMPTY, probe=jnp.array([1.0]), solver=NEWTON, throw=False),
            "primal_infeasible", nan=("x",)),
    flagged("equilibrium/solve/nira_without_halving",
            lambda: rp.solve_equilibrium(Switching(), None, None, rp.NikaidoIsoda(min_step=0.5),
                                         throw=False), "relaxation_stalled", nan=("x",)),
    refused("equilibrium/solve/throw_raises_code_message",
            lambda: rp.solve_equilibrium(RIVER, TH.at[0].set(jnp.nan), PR), eqx.EquinoxRuntimeError,
            r"`theta` contains NaN/inf or lies outside the game's mechanism box"),
    refused("equilibrium/solve/throw_convex_payoff",
            lambda: _eq(CAPPED_CONVEX, probe=jnp.array([5.0])), eqx.EquinoxRuntimeError,
            r"not concave in its own action"),
    refused("equilibrium/solve/throw_empty_feasible_set",
            lambda: _eq(EMPTY, probe=jnp.array([1.0])), eqx.EquinoxRuntimeError,
            r"may make the feasible set empty"),
    # --------------------------------------------------------------- solve_equilibrium: correct
    correct("equilibrium/solve/published_river",
            lambda: _river(), lambda s: bool(s.success)
            and np.allclose(s.x, [21.1448, 16.0279, 2.7260], atol=1e-4) and str(s.result) == "successful"),
    correct("equilibrium/solve/gradient_nan_at_failed_element", _grad_at_failure,
            lambda g: bool(np.all(np.isnan(np.asarray(g))))),
    correct("equilibrium/solve/healthy_elements_untouched", _healthy_untouched, lambda ok: ok),
    correct("equilibrium/solve/far_lower_bound",
            lambda: _eq(FAR_LOWER, solver=NEWTON, throw=False),  # Cournot q = 9 / (3 theta) = 3
            lambda s: str(s.result) == "successful" and np.allclose(s.x, 3.0, rtol=1e-10)),
    correct("equilibrium/solve/far_lower_bound_enumeration",
            lambda: _eq(FAR_LOWER, throw=False),
            lambda s: str(s.result) == "successful" and np.allclose(s.x, 3.0, rtol=1e-10)),
    correct("equilibrium/solve/free_variables", lambda: _eq(FREE, solver=NEWTON, throw=False),
            lambda s: str(s.result) == "successful" and np.allclose(s.x, 3.0, rtol=1e-10)),
    correct("equilibrium/solve/nira_internet_switching_defaults",
            lambda: rp.solve_equilibrium(Switching(), None, None, rp.NikaidoIsoda()),
            lambda s: np.allclose(s.x, 0.09, rtol=1e-9)),
    correct("equilibrium/solve/float32_dtype",
            lambda: rp.solve_equilibrium(RIVER, TH.astype(jnp.float32), PR.astype(jnp.float32)),
            lambda s: s.x.dtype == jnp.float32 and bool(s.success)
            and float(s.residual) <= rp._equilibrium.default_tol(jnp.float32)),
    correct("equilibrium/solve/integer_theta_cast",
            lambda: _eq(Duopoly(), jnp.array([1]), jnp.array([100])),
            lambda s: s.x.dtype == jnp.result_type(float) and np.allclose(s.x, 3.0)),
    correct("equilibrium/solve/stats_and_success",
            lambda: _river(), lambda s: isinstance(s, rp.AbstractSolution)
            and set(s.stats) == {"residual", "num_steps"} and bool(s.success)),
    # ------------------------------------------------------------------------- social_optimum
    refused("equilibrium/social_optimum/game_not_a_game",
            lambda: rp.social_optimum(object(), TH, PR), TypeError,
            r"`game` must be an AbstractGame; got object"),
    refused("equilibrium/social_optimum/theta_length", lambda: rp.social_optimum(RIVER, TH[:6], PR),
            ValueError, r"`theta` must be a 1-D array of shape \(7,\); got shape \(6,\)"),
    refused("equilibrium/social_optimum/probe_shape",
            lambda: rp.social_optimum(RIVER, TH, jnp.zeros((3, 1))), ValueError,
            r"`probe` must be a 1-D array of shape \(3,\); got shape \(3, 1\)"),
    refused("equilibrium/social_optimum/tol_nan",
            lambda: rp.social_optimum(RIVER, TH, PR, tol=float("nan")), ValueError,
            r"`tol` must be a finite number > 0; got nan"),
    refused("equilibrium/social_optimum/welfare_vector",
            lambda: rp.social_optimum(VEC_W, jnp.array([1.0]), jnp.array([100.0])), ValueError,
            r"`VecW.welfare` must return a float scalar \(the social welfare\), shape \(\)"),
    refused("equilibrium/social_optimum/solver_type",
            lambda: rp.social_optimum(RIVER, TH, PR, solver=1), TypeError,
            r"`solver` must be an AbstractEquilibriumSolver"),
    flagged("equilibrium/social_optimum/theta_nan", lambda: _so(TH.at[0].set(jnp.nan)),
            "invalid_theta", nan=("x", "multipliers")),
    flagged("equilibrium/social_optimum/theta_outside_box", lambda: _so(TH.at[3].set(1.5)),
            "invalid_theta", nan=("x",)),
    flagged("equilibrium/social_optimum/probe_outside_box", lambda: _so(probe=PR.at[2].set(-0.5)),
            "invalid_probe", nan=("x",)),
    flagged("equilibrium/social_optimum/convex_welfare",
            lambda: rp.social_optimum(CONVEX_WELFARE, jnp.array([1.0]), jnp.array([100.0]),
                                      throw=False), "not_concave", nan=("x",)),
    refused("equilibrium/social_optimum/throw_convex_welfare",
            lambda: rp.social_optimum(CONVEX_WELFARE, jnp.array([1.0]), jnp.array([100.0])),
            eqx.EquinoxRuntimeError, r"not concave"),
    correct("equilibrium/social_optimum/river", lambda: _so(probe=jnp.full(3, 0.1)),
            lambda s: bool(s.success) and s.concept == "social_optimum"),
    # ------------------------------------------------------------------------- welfare_report
    refused("equilibrium/welfare_report/x_eq_shape",
            lambda: rp.welfare_report(RIVER, TH, PR, x_eq=jnp.ones(2)), ValueError,
            r"`x_eq` must have shape \(3,\) \(the game's action_shape\); got \(2,\)"),
    refused("equilibrium/welfare_report/theta_length",
            lambda: rp.welfare_report(RIVER, TH[:3], PR), ValueError,
            r"`theta` must be a 1-D array of shape \(7,\); got shape \(3,\)"),
    refused("equilibrium/welfare_report/throw",
            lambda: rp.welfare_report(RIVER, TH.at[0].set(5.0), PR, throw=True),
            eqx.EquinoxRuntimeError, r"mechanism box"),
    flagged("equilibrium/welfare_report/invalid_theta",
            lambda: rp.welfare_report(RIVER, TH.at[0].set(5.0), PR), "invalid_theta",
            nan=("ratio", "welfare_eq", "welfare_opt", "distance")),
    flagged("equilibrium/welfare_report/invalid_probe",
            lambda: rp.welfare_report(RIVER, TH, PR.at[0].set(jnp.nan)), "invalid_probe",
            nan=("ratio", "distance")),
    flagged("equilibrium/welfare_report/nonpositive_optimal_welfare",
            lambda: rp.welfare_report(NEGATIVE_WELFARE, jnp.array([1.0]), jnp.array([100.0])),
            "welfare_ratio_undefined", nan=("ratio",)),
    flagged("equilibrium/welfare_report/convex_welfare",
            lambda: rp.welfare_report(CONVEX_WELFARE, jnp.array([1.0]), jnp.array([100.0])),
            "not_concave", nan=("ratio",)),
    flagged("equilibrium/welfare_report/x_eq_nan",
            lambda: rp.welfare_report(RIVER, TH, PR, x_eq=jnp.full(3, jnp.nan)), "nonfinite",
            nan=("ratio",)),
    correct("equilibrium/welfare_report/ok_alias",
            lambda: rp.welfare_report(RIVER, TH, jnp.full(3, 0.1)),
            lambda r: bool(r.ok) and bool(r.success) and 0 < float(r.ratio) < 1),
    # --------------------------------------------------------------------------- probe_values
    refused("equilibrium/probe_values/game", lambda: rp.probe_values(object(), PR[None], TH[None]),
            TypeError, r"`game` must be an AbstractGame; got object"),
    refused("equilibrium/probe_values/probes_shape",
            lambda: rp.probe_values(RIVER, PR, jnp.ones((1, 3))), ValueError,
            r"`probes` must have shape \(T, 3\); got \(3,\)"),
    refused("equilibrium/probe_values/strategies_shape",
            lambda: rp.probe_values(RIVER, PR[None], jnp.ones((1, 2))), ValueError,
            r"`strategies` must have shape \(T, \*action_shape\) = \(1, 3\) or \(T, N, \*action_shape\)"),
    refused("equilibrium/probe_values/revealed_matrix",
            lambda: rp.probe_values(MAT_G, jnp.ones((2, 1)), jnp.ones((2, 2))), ValueError,
            r"`MatG.revealed_constraints` must return a 1-D float array \(R,\) of probe values"),
    refused("equilibrium/probe_values/revealed_none",
            lambda: rp.probe_values(NONE_G, jnp.ones((2, 1)), jnp.ones((2, 2))), TypeError,
            r"`NoneG.revealed_constraints` returned None"),
    correct("equilibrium/probe_values/samples_mean",
            lambda: rp.probe_values(Duopoly(), jnp.array([[2.0], [4.0]]),
                                    jnp.array([[[1.0, 2.0], [3.0, 2.0]], [[4.0, 4.0], [4.0, 4.0]]])),
            lambda v: v.shape == (2, 2, 2) and np.allclose(v[0, 0, 0], 0.0)
            and np.allclose(v[1, 1, 0], -0.5)),
]
