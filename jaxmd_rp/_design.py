"""The default design objective: enact the game on the probes, observe, compute the Pareto gap.

`ParetoGapObjective(game)(theta, probes, key)` is Algorithm 1's lines 13-20 for one mechanism:
solve the T probe games at `theta` (one vmapped equilibrium solve), optionally draw N samples of
each observed strategy (eq. 12), build the probe-values array (eq. 13) and return the Pareto gap.
It is a pure function of (theta, probes, key), so `jax.vmap` over paths and perturbations turns a
whole SPSA iteration into one batched computation.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._equilibrium import AbstractEquilibriumSolver, solve_equilibrium
from ._game import AbstractGame, probe_values
from ._pareto_gap import pareto_gap_unchecked
from ._solution import RESULTS
from ._spsa import _as_leaf


def sample_probes(game: AbstractGame, key, num_probes: int) -> Array:
    """T probes drawn uniformly from the game's probe box (paper A.1.2: e ~ U[0, 1]^3)."""
    lo, hi = game.probe_bounds
    probes = jax.random.uniform(key, (num_probes, game.probe_dim), minval=lo, maxval=hi)
    return eqx.error_if(
        probes, ~(jnp.all(jnp.isfinite(lo)) & jnp.all(jnp.isfinite(hi))),
        "`game.probe_bounds` must be finite to sample probes uniformly.",
    )


class ParetoGapObjective(eqx.Module):
    """theta -> L_hat(theta): the Pareto gap of the equilibria observed at `theta` on the probes.

    **Arguments:**

    - `game`: the black-box system (an `AbstractGame`).
    - `solver`: equilibrium solver (default `SemismoothNewton()`).
    - `num_samples`: `None` observes the equilibrium itself (eq. 10); an integer N observes N
      samples of each strategy (eq. 12-13), drawn by `game.sample_strategy`.
    - `noise`: standard deviation of additive Gaussian observation noise on each sample (clipped
      at the action lower bound); with 0 and a pure-strategy game all samples equal the equilibrium.
    - `fresh_probes`: if `True`, ignore the `probes` argument and draw `num_probes` new probes
      from the key at every call (the paper draws them once, before the loop: the default).
    - `num_probes`: T when `fresh_probes=True`.
    - `max_steps`, `tol`: passed to `solve_equilibrium`.

    Calling it returns a scalar; NaN where some equilibrium solve failed (the SPSA step is then
    skipped). `observe` returns the strategies and the per-probe result codes.
    """

    game: AbstractGame
    solver: AbstractEquilibriumSolver | None = None
    num_samples: int | None = eqx.field(static=True, default=None)
    noise: Array = eqx.field(default=0.0, converter=lambda v: _as_leaf(v))
    fresh_probes: bool = eqx.field(static=True, default=False)
    num_probes: int | None = eqx.field(static=True, default=None)
    max_steps: int = eqx.field(static=True, default=100)
    tol: float | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if self.fresh_probes and self.num_probes is None:
            raise ValueError("`fresh_probes=True` needs `num_probes` (T).")
        if not isinstance(self.noise, jax.core.Tracer) and float(self.noise) < 0:
            raise ValueError(f"`noise` must be >= 0; got {self.noise}.")
        if self.num_samples is not None and self.num_samples < 1:
            raise ValueError(f"`num_samples` must be >= 1 or None; got {self.num_samples}.")

    def probes_for(self, probes, key):
        if self.fresh_probes:
            return sample_probes(self.game, jax.random.fold_in(key, 7), self.num_probes)
        return probes

    def observe(self, theta, probes, key):
        """(strategies, ok): equilibria (T, *shape) or samples (T, N, *shape), and success flags."""
        return self._observe(theta, self.probes_for(probes, key), key)

    def _observe(self, theta, probes, key):
        sols = jax.vmap(
            lambda p: solve_equilibrium(self.game, theta, p, self.solver,
                                        max_steps=self.max_steps, tol=self.tol, throw=False)
        )(probes)
        ok = sols.result == RESULTS.successful
        x = sols.x
        if self.num_samples is not None:
            T = x.shape[0]
            skeys = jax.random.split(jax.random.fold_in(key, 11), T)
            x = jax.vmap(lambda k, xt: self.game.sample_strategy(k, xt, self.num_samples))(skeys, x)
            if not (isinstance(self.noise, np.ndarray) and float(self.noise) == 0.0):
                noise = jax.random.normal(jax.random.fold_in(key, 13), x.shape, x.dtype)
                lower = jnp.asarray(self.game.lower, x.dtype)
                x = jnp.maximum(x + self.noise * noise, lower)
        return x, ok

    def values(self, theta, probes, key):
        """The probe-values array (R, T, T) at `theta`, and the success flags."""
        probes = self.probes_for(probes, key)
        strategies, ok = self._observe(theta, probes, key)
        return probe_values(self.game, probes, strategies), ok

    def __call__(self, theta, probes=None, key=None) -> Array:
        if key is None:
            key = jax.random.PRNGKey(0)
        values, ok = self.values(theta, probes, key)
        L = pareto_gap_unchecked(values)
        return jnp.where(jnp.all(ok), L, jnp.nan)
