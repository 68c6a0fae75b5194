"""Bad-input corpus: the game model and the games' constructors and closed forms.

User games with malformed declarations are refused with a message naming the class variable or
property and the expected value; the games of `jaxmd_rp.games` refuse out-of-range parameters at
construction.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np

import jaxmd_rp as rp

from . import correct, refused

G = rp.games


class _Base(rp.AbstractGame):
    num_agents = 2

    def utilities(self, theta, x):
        return -((x - 1.0) ** 2)


def _declared(**attrs):
    """A subclass of `_Base` with the given class variables / properties."""
    return type("Declared", (_Base,), attrs)()


def _solve(game, *a, **kw):
    return rp.solve_equilibrium(game, *a, **kw)


def _prop(value):
    return property(lambda self: value)


CASES = [
    # ---------------------------------------------------------------- declarations of user games
    refused("games/declare/num_agents_zero", lambda: _solve(_declared(num_agents=0)), ValueError,
            r"`Declared.num_agents` must be an integer >= 1; got 0"),
    refused("games/declare/num_agents_float", lambda: _solve(_declared(num_agents=2.0)),
            ValueError, r"`Declared.num_agents` must be an integer >= 1; got 2.0"),
    refused("games/declare/action_dim_zero", lambda: _solve(_declared(action_dim=0)), ValueError,
            r"`Declared.action_dim` must be None \(scalar actions\) or an integer >= 1; got 0"),
    refused("games/declare/action_dims_length", lambda: _solve(_declared(action_dims=(1, 2, 3))),
            ValueError, r"`Declared.action_dims` must be a tuple of num_agents = 2 integers >= 1"),
    refused("games/declare/action_dims_zero", lambda: _solve(_declared(action_dims=(1, 0))),
            ValueError, r"`Declared.action_dims` must be a tuple of num_agents = 2 integers"),
    refused("games/declare/theta_dim_negative", lambda: _solve(_declared(theta_dim=-1)),
            ValueError, r"`Declared.theta_dim` must be an integer >= 0; got -1"),
    refused("games/declare/probe_dim_str", lambda: _solve(_declared(probe_dim="1")), ValueError,
            r"`Declared.probe_dim` must be an integer >= 0; got '1'"),
    refused("games/declare/lower_nan", lambda: _solve(_declared(lower=_prop(jnp.nan))),
            ValueError, r"`Declared.lower` must be finite or -inf \(no NaN, no \+inf\)"),
    refused("games/declare/lower_plus_inf", lambda: _solve(_declared(lower=_prop(jnp.inf))),
            ValueError, r"`Declared.lower` must be finite or -inf"),
    refused("games/declare/upper_minus_inf", lambda: _solve(_declared(upper=_prop(-jnp.inf))),
            ValueError, r"`Declared.upper` must be finite or \+inf \(no NaN, no -inf\)"),
    refused("games/declare/lower_above_upper",
            lambda: _solve(_declared(lower=_prop(2.0), upper=_prop(1.0))), ValueError,
            r"`Declared.lower` must be <= `Declared.upper` everywhere"),
    refused("games/declare/lower_shape", lambda: _solve(_declared(lower=_prop(jnp.zeros(3)))),
            ValueError, r"`Declared.lower` must be a number or an array of shape \(2,\); got shape \(3,\)"),
    refused("games/declare/lower_none", lambda: _solve(_declared(lower=_prop(None))), TypeError,
            r"`Declared.lower` is None; it must be a number or an array of shape \(2,\)"),
    refused("games/declare/lower_complex", lambda: _solve(_declared(lower=_prop(1j))), TypeError,
            r"`Declared.lower` must be real numbers; got dtype complex"),
    refused("games/declare/theta_bounds_not_pair",
            lambda: _solve(_declared(theta_dim=1, theta_bounds=_prop(jnp.zeros(1))),
                           jnp.zeros(1)), TypeError,
            r"`Declared.theta_bounds` must be a pair \(lower, upper\); got ArrayImpl"),
    refused("games/declare/theta_bounds_reversed",
            lambda: _solve(_declared(theta_dim=1, theta_bounds=_prop((jnp.ones(1), jnp.zeros(1)))),
                           jnp.zeros(1)), ValueError,
            r"`Declared.theta_bounds` must satisfy lower <= upper without NaN"),
    refused("games/declare/probe_bounds_nan",
            lambda: _solve(_declared(probe_dim=1, probe_bounds=_prop((jnp.zeros(1),
                                                                      jnp.full(1, jnp.nan)))),
                           None, jnp.zeros(1)), ValueError,
            r"`Declared.probe_bounds` must satisfy lower <= upper without NaN"),
    refused("games/declare/probe_bounds_shape",
            lambda: _solve(_declared(probe_dim=1, probe_bounds=_prop((jnp.zeros(2), jnp.ones(2)))),
                           None, jnp.zeros(1)), ValueError,
            r"`Declared.probe_bounds\[0\]` must be a number or an array of shape \(1,\)"),
    refused("games/declare/owners_length",
            lambda: _solve(_declared(constraints=lambda s, p, x: x - 2.0,
                                     constraint_owners=_prop((0,)))), ValueError,
            r"`Declared.constraint_owners` must be None or a tuple of 2 entries"),
    refused("games/declare/owners_player_out_of_range",
            lambda: _solve(_declared(constraints=lambda s, p, x: x - 2.0,
                                     constraint_owners=_prop((0, 2)))), ValueError,
            r"each None \(shared\) or a player index in \[0, 2\); got \(0, 2\)"),
    refused("games/declare/equality_owners",
            lambda: _solve(_declared(equality_constraints=lambda s, p, x: x[:1] - 0.5,
                                     equality_owners=_prop(("a",)))), ValueError,
            r"`Declared.equality_owners` must be None or a tuple of 1 entries"),
    refused("games/declare/rosen_weights_negative",
            lambda: _solve(_declared(constraints=lambda s, p, x: jnp.sum(x)[None] - 1.0,
                                     rosen_weights=_prop(jnp.array([1.0, -1.0])))), ValueError,
            r"`Declared.rosen_weights` must be finite and > 0; got \[ 1. -1.\]"),
    refused("games/declare/rosen_weights_shape",
            lambda: _solve(_declared(rosen_weights=_prop(jnp.ones(3)))), ValueError,
            r"`Declared.rosen_weights` must be None or a float array of shape \(2,\)"),
    refused("games/declare/abstract_utilities", lambda: type("NoU", (rp.AbstractGame,),
                                                            {"num_agents": 1})(), TypeError,
            r"abstract"),
    correct("games/declare/ragged_layout",
            lambda: _declared(action_dims=(1, 2)),
            lambda g: g.action_shape == (3,) and g.player_dims == (1, 2)
            and g.player_slices == (slice(0, 1), slice(1, 3))),
    correct("games/declare/no_mechanism_no_probe_solves",
            lambda: _solve(_declared()),  # no theta, no probe, no constraints: x = 1
            lambda s: bool(s.success) and np.allclose(s.x, 1.0) and s.concept == "nash"),
    correct("games/declare/scalar_bounds_broadcast",
            lambda: _solve(_declared(lower=_prop(-5.0), upper=_prop(0.5))),
            lambda s: bool(s.success) and np.allclose(s.x, 0.5)),
    # ------------------------------------------------------------------------- RiverPollution
    refused("games/river/scale_zero", lambda: G.RiverPollution(scale=0.0), ValueError,
            r"`scale` must be > 0 \(it divides the probe values\); got 0.0"),
    refused("games/river/scale_nan", lambda: G.RiverPollution(scale=float("nan")), ValueError,
            r"`scale` must be > 0"),
    refused("games/river/variant", lambda: G.RiverPollution(variant="convex"), ValueError,
            r"`variant` must be 'classic' or 'printed'; got 'convex'"),
    refused("games/river/reading", lambda: G.RiverPollution(probe_reading="all"), ValueError,
            r"`probe_reading` must be 'shared', 'station' or 'own'; got 'all'"),
    refused("games/river/cap_zero", lambda: G.RiverPollution(cap=0.0), ValueError,
            r"RiverPollution: `cap` must be a finite number > 0.0; got 0.0"),
    refused("games/river/cap_inf", lambda: G.RiverPollution(cap=float("inf")), ValueError,
            r"RiverPollution: `cap` must be a finite number > 0.0; got inf"),
    refused("games/river/d1_nan", lambda: G.RiverPollution(d1=float("nan")), ValueError,
            r"RiverPollution: `d1` must be a finite number; got nan"),
    refused("games/river/delta_shape", lambda: G.RiverPollution(delta=jnp.ones((2, 3))),
            ValueError, r"RiverPollution: `delta` must be a finite real array of shape \(3, 2\)"),
    refused("games/river/delta_nan", lambda: G.RiverPollution(delta=jnp.full((3, 2), jnp.nan)),
            ValueError, r"RiverPollution: `delta` must be a finite real array of shape \(3, 2\)"),
    # ------------------------------------------------------------------------ CournotPollution
    refused("games/cournot/costs_shape", lambda: G.CournotPollution(costs=jnp.ones(3)),
            ValueError, r"`costs` must have shape \(2,\); got \(3,\)"),
    refused("games/cournot/costs_nan", lambda: G.CournotPollution(costs=jnp.array([1.0, jnp.nan])),
            ValueError, r"CournotPollution: `costs` must be a finite real array of shape \(2,\)"),
    refused("games/cournot/b_zero", lambda: G.CournotPollution(b=0.0), ValueError,
            r"CournotPollution: `b` must be a finite number > 0.0; got 0.0"),
    refused("games/cournot/damage_negative", lambda: G.CournotPollution(damage_quadratic=-1.0),
            ValueError, r"CournotPollution: `damage_quadratic` must be a finite number >= 0.0"),
    refused("games/cournot/cap_min_zero", lambda: G.CournotPollution(cap_min=0.0), ValueError,
            r"CournotPollution: `cap_min` must be a finite number > 0.0; got 0.0"),
    refused("games/cournot/caps_reversed", lambda: G.CournotPollution(cap_min=6.0), ValueError,
            r"CournotPollution: `cap_max` must be a finite number >= 6.0; got 5.0"),
    refused("games/cournot/tax_max_negative", lambda: G.CournotPollution(tax_max=-1.0),
            ValueError, r"CournotPollution: `tax_max` must be a finite number >= 0.0; got -1.0"),
    refused("games/cournot/a_inf", lambda: G.CournotPollution(a=float("inf")), ValueError,
            r"CournotPollution: `a` must be a finite number; got inf"),
    # ----------------------------------------------------------------------------- PublicGoods
    refused("games/public_goods/cost_zero", lambda: G.PublicGoods(cost=0.0), ValueError,
            r"PublicGoods: `cost` must be a finite number > 0.0; got 0.0"),
    refused("games/public_goods/gamma_negative", lambda: G.PublicGoods(gamma=-0.5), ValueError,
            r"PublicGoods: `gamma` must be a finite number > 0.0; got -0.5"),
    refused("games/public_goods/budget_min_zero", lambda: G.PublicGoods(budget_min=0.0),
            ValueError, r"PublicGoods: `budget_min` must be a finite number > 0.0; got 0.0"),
    refused("games/public_goods/budgets_reversed", lambda: G.PublicGoods(budget_min=9.0),
            ValueError, r"PublicGoods: `budget_max` must be a finite number >= 9.0; got 8.0"),
    refused("games/public_goods/subsidy_max_nan", lambda: G.PublicGoods(subsidy_max=float("nan")),
            ValueError, r"PublicGoods: `subsidy_max` must be a finite number >= 0.0; got nan"),
    refused("games/public_goods/nash_probe_shape",
            lambda: G.PublicGoods().nash_contributions(jnp.array([1.0]), jnp.ones(2)), ValueError,
            r"`probe` must have shape \(3,\); got \(2,\)"),
    # -------------------------------------------------------------------------- InspectionGame
    refused("games/inspection/cap_min_zero", lambda: G.InspectionGame(cap_min=0.0), ValueError,
            r"`cap_min` must be positive; got 0.0"),
    refused("games/inspection/cap_min_above_one", lambda: G.InspectionGame(cap_min=1.5),
            ValueError, r"InspectionGame: `cap_min` must be a finite number > 0.0 and <= 1.0"),
    refused("games/inspection/fine_max_zero", lambda: G.InspectionGame(fine_max=0.0), ValueError,
            r"InspectionGame: `fine_max` must be a finite number > 0.0; got 0.0"),
    refused("games/inspection/gain_nan", lambda: G.InspectionGame(gain=float("nan")), ValueError,
            r"InspectionGame: `gain` must be a finite number; got nan"),
    refused("games/inspection/equilibrium_probe_shape",
            lambda: G.InspectionGame().equilibrium(jnp.array([2.0]), jnp.ones(3)), ValueError,
            r"`probe` must have shape \(2,\); got \(3,\)"),
    # ------------------------------------------------------------------------------ BudgetGame
    refused("games/budget/noise_above_one", lambda: G.BudgetGame(noise=2.0), ValueError,
            r"`noise` must lie in \[0, 1\]; got 2.0"),
    refused("games/budget/noise_negative", lambda: G.BudgetGame(noise=-0.1), ValueError,
            r"`noise` must lie in \[0, 1\]; got -0.1"),
    refused("games/budget/prices_shape", lambda: G.BudgetGame().prices(jnp.ones(5)), ValueError,
            r"`probe` must have last axis 6 \(3 agents x 2 goods\); got \(5,\)"),
    correct("games/budget/demand_exhausts_budget",
            lambda: G.BudgetGame().demand(jnp.array([0.5, 1.0, 0.5, 1.0, 1.0, 0.5])),
            lambda x: np.allclose(np.sum(np.array([[0.5, 1.0], [0.5, 1.0], [1.0, 0.5]]) * x,
                                         axis=1), 1.0)),
    correct("games/river/module_is_pytree",
            lambda: eqx.tree_equal(G.RiverPollution(), G.RiverPollution()),
            lambda eq: bool(eq)),
]
