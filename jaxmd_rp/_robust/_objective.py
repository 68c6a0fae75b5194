"""The design objective of Figure 5: Algorithm 2's robust gap inside Algorithm 1."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from .._game import AbstractGame
from .._solution import RESULTS
from ._checks import _check_support
from ._gap import robust_pareto_gap_game
from ._results import RobustGap


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
            from .._equilibrium import solve_equilibrium

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
