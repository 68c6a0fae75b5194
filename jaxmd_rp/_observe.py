"""The one place that turns (game, theta, probes, key) into observed strategies.

Algorithm 1's lines 13-17 for one mechanism: enact the T probe games at `theta`, let the agents
reach equilibrium, and observe them -- the equilibrium itself (eq. 10), or N samples of each
(mixed or empirical) strategy (eq. 12), possibly perturbed by observation noise. Every design
objective (`ParetoGapObjective`, `SmoothedGapObjective`, `RobustGapObjective`) observes through an
`Observer`, so the key streams and noise models are the same everywhere:

- equilibria: `game.equilibrium(theta, probe)` for an `AbstractClosedFormGame`, else one vmapped
  `solve_equilibrium(..., throw=False)` over the probes (failed solves are flagged in `ok`);
- learning agents (`dynamics` set, e.g. `GradientPlay`): instead of an equilibrium, the play the
  agents reach after `dynamics.horizon` rounds of learning (`jaxmd_rp._learning`; a play that is
  not finite is flagged in `ok`);
- samples: `game.sample_strategy(k_t, x_t, N)` with `k_t = split(fold_in(key, 11), T)[t]`;
- noise (`noise_model="gaussian"`): additive N(0, noise^2) on every sample coordinate, drawn from
  `fold_in(key, 13)`, clipped at the game's action lower bound;
- tremble (`noise_model="tremble"`): every coordinate shrunk towards the lower bound by an
  independent factor (1 - noise * u), u ~ U(0, 1) from `fold_in(key, 13)`: genuinely mixed samples
  that stay inside a probe set of the form {x >= lower, g(x) <= 0} with g increasing.
"""

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool

from ._equilibrium import AbstractEquilibriumSolver, solve_equilibrium
from ._game import AbstractClosedFormGame, AbstractGame
from ._learning import AbstractLearningDynamics

SAMPLE_STREAM = 11  # fold_in(key, SAMPLE_STREAM): the per-probe sampling keys
NOISE_STREAM = 13  # fold_in(key, NOISE_STREAM): observation noise
PROBE_STREAM = 7  # fold_in(key, PROBE_STREAM): fresh probes (design objectives)


def as_leaf(v):
    """Python numbers -> float64 numpy arrays: traced leaves (no recompilation per value) that
    take the dtype of the computation they enter."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return np.asarray(v, dtype=np.float64)
    return v


def is_concrete(v) -> bool:
    return not isinstance(v, jax.core.Tracer)


def is_zero(v) -> bool:
    """True when `v` is a concrete zero (a traced value is never known to be zero)."""
    return is_concrete(v) and np.ndim(v) == 0 and float(v) == 0.0


class Observer(eqx.Module):
    """Observe a game's equilibria at a mechanism on T probes (see the module docstring).

    **Arguments:**

    - `game`: the black-box system (an `AbstractGame`).
    - `solver`: equilibrium solver for `solve_equilibrium` (default: its own choice). Ignored for
      an `AbstractClosedFormGame`.
    - `num_samples`: `None` observes the equilibrium itself; an integer N observes N samples of
      each strategy (`game.sample_strategy`).
    - `noise`: the size of the observation noise on each sample (>= 0; 0 = none).
    - `noise_model`: `"gaussian"` (standard deviation `noise`, clipped at the lower bound) or
      `"tremble"` (shrink towards the lower bound by up to the fraction `noise`, in [0, 1]).
    - `max_steps`, `tol`: passed to `solve_equilibrium`.
    - `dynamics`: `None` (default) observes equilibria; a learning dynamics
      (`GradientPlay`, `Hedge`, `RegretMatching`) observes the agents' play after learning.
    """

    game: AbstractGame
    solver: AbstractEquilibriumSolver | None = None
    num_samples: int | None = eqx.field(static=True, default=None)
    noise: Array = eqx.field(default=0.0, converter=as_leaf)
    noise_model: Literal["gaussian", "tremble"] = eqx.field(static=True, default="gaussian")
    max_steps: int = eqx.field(static=True, default=100)
    tol: float | None = eqx.field(static=True, default=None)
    dynamics: AbstractLearningDynamics | None = None

    def __check_init__(self):
        if not isinstance(self.game, AbstractGame):
            raise TypeError(f"`game` must be an AbstractGame; got {type(self.game).__name__}.")
        if self.dynamics is not None and not isinstance(self.dynamics, AbstractLearningDynamics):
            raise TypeError("`dynamics` must be None or a learning dynamics (GradientPlay, Hedge, "
                            f"RegretMatching); got {type(self.dynamics).__name__}.")
        if self.num_samples is not None and (
            isinstance(self.num_samples, bool) or not isinstance(self.num_samples, int)
            or self.num_samples < 1
        ):
            raise ValueError(f"`num_samples` must be an integer >= 1 or None; got {self.num_samples!r}.")
        if self.noise_model not in ("gaussian", "tremble"):
            raise ValueError(
                f"`noise_model` must be 'gaussian' or 'tremble'; got {self.noise_model!r}.")
        if is_concrete(self.noise):
            v = np.asarray(self.noise)
            if v.ndim != 0 or not np.isrealobj(v) or not np.isfinite(v) or v < 0:
                raise ValueError(f"`noise` must be a finite real number >= 0; got {self.noise!r}.")
            if self.noise_model == "tremble" and v > 1:
                raise ValueError(
                    f"`noise` must be in [0, 1] for noise_model='tremble' (a shrink fraction); "
                    f"got {float(v)}.")
        if is_concrete(self.noise) and not is_zero(self.noise) and self.num_samples is None:
            raise ValueError("`noise` perturbs samples: set `num_samples` (N >= 1) as well.")

    @property
    def random(self) -> bool:
        """Whether observations depend on the key (sampled strategies)."""
        return self.num_samples is not None

    def equilibria(self, theta, probes) -> tuple[Array, Bool[Array, " T"]]:
        """(x, ok): the equilibria at `theta` on every probe, shape (T, *action_shape), and
        whether each was obtained (False where a solve failed); with `dynamics`, the learned
        play instead."""
        game = self.game
        if self.dynamics is not None:
            return jax.vmap(lambda p: self.dynamics.play(game, theta, p))(probes)
        if isinstance(game, AbstractClosedFormGame):
            x = jax.vmap(lambda p: game.equilibrium(theta, p))(probes)
            return x, jnp.all(jnp.isfinite(x.reshape(x.shape[0], -1)), axis=-1)
        sols = jax.vmap(
            lambda p: solve_equilibrium(game, theta, p, self.solver, max_steps=self.max_steps,
                                        tol=self.tol, throw=False)
        )(probes)
        return sols.x, sols.success

    def sample(self, key, x) -> Array:
        """N samples of each equilibrium: (T, *action_shape) -> (T, N, *action_shape); the
        equilibria unchanged when `num_samples` is None."""
        if self.num_samples is None:
            return x
        game = self.game
        keys = jax.random.split(jax.random.fold_in(key, SAMPLE_STREAM), x.shape[0])
        x = jax.vmap(lambda k, xt: game.sample_strategy(k, xt, self.num_samples))(keys, x)
        if is_zero(self.noise):
            return x
        nkey = jax.random.fold_in(key, NOISE_STREAM)
        lower = jnp.asarray(game.lower, x.dtype)
        noise = jnp.asarray(self.noise, x.dtype)
        if self.noise_model == "gaussian":
            return jnp.maximum(x + noise * jax.random.normal(nkey, x.shape, x.dtype), lower)
        u = jax.random.uniform(nkey, x.shape, x.dtype)
        return lower + (x - lower) * (1.0 - noise * u)

    def __call__(self, theta, probes, key) -> tuple[Array, Bool[Array, " T"]]:
        """(strategies, ok): the observations at `theta` on `probes` (T, probe_dim)."""
        x, ok = self.equilibria(theta, probes)
        return self.sample(key, x), ok
