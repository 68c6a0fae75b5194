"""The objective interface of the design methods: what `SPSA` and `GradientDesign` minimise.

An objective is a pure function `fn(theta, args, key) -> scalar` of the mechanism (NaN where it
could not be evaluated). Any callable with that signature works with the design methods; the
declared interfaces below say more where a method needs more:

- `AbstractObjective`: a callable objective that says whether it needs a key (`random`);
- `AbstractSurrogateObjective`: also offers a smooth surrogate for gradient-based design
  (`surrogate(theta, args, key, n) -> (surrogate, exact)`, from one set of observations);
- `AbstractGapObjective`: a gap objective of the paper's Algorithm 1, which enacts the game on the
  probes at theta through an `Observer` (the `args` are the probes, shape (T, probe_dim)).
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool

from ._game import AbstractGame
from ._observe import PROBE_STREAM, Observer


class AbstractObjective(eqx.Module):
    """A design objective `fn(theta, args, key) -> scalar` (NaN = could not be evaluated)."""

    @abc.abstractmethod
    def __call__(self, theta: Array, args=None, key=None) -> Array:
        """The objective at one mechanism `theta` (shape (p,))."""

    @property
    def random(self) -> bool:
        """Whether the value depends on `key` (then `key` is required)."""
        return True

    def check_key(self, key):
        """`key`, or a ValueError when a random objective is called without one. Deterministic
        objectives accept `key=None` (their value does not depend on it)."""
        if key is None:
            if self.random:
                raise ValueError(
                    f"`key` is required: {type(self).__name__} is random (it samples strategies, "
                    "adds observation noise or draws fresh probes); pass a jax.random key.")
            return jax.random.PRNGKey(0)  # unused by a deterministic objective
        return key


class AbstractSurrogateObjective(AbstractObjective):
    """An objective with a smooth surrogate for gradient-based design (`GradientDesign`)."""

    @abc.abstractmethod
    def surrogate(self, theta: Array, args, key, n) -> tuple[Array, Array]:
        """(surrogate, exact) at design iteration `n`, from one set of observations."""


def sample_probes(game: AbstractGame, key, num_probes: int) -> Array:
    """T probes drawn uniformly from the game's probe box (paper A.1.2: e ~ U[0, 1]^3)."""
    if isinstance(num_probes, bool) or not isinstance(num_probes, int) or num_probes < 1:
        raise ValueError(f"`num_probes` must be an integer >= 1; got {num_probes!r}.")
    lo, hi = game.probe_bounds
    lo, hi = jnp.asarray(lo), jnp.asarray(hi)
    finite = jnp.all(jnp.isfinite(lo)) & jnp.all(jnp.isfinite(hi))
    message = "`game.probe_bounds` must be finite to sample probes uniformly."
    if not isinstance(finite, jax.core.Tracer):
        if not bool(finite):
            raise ValueError(message)
    else:
        lo = eqx.error_if(lo, ~finite, message)
    return jax.random.uniform(key, (num_probes, game.probe_dim), minval=lo, maxval=hi)


class AbstractGapObjective(AbstractObjective):
    """A gap objective of Algorithm 1: observe the game on the probes at theta, then a gap.

    Subclasses provide `observer` (an `Observer`), `fresh_probes` and `num_probes`.
    """

    observer: eqx.AbstractVar[Observer]
    fresh_probes: eqx.AbstractVar[bool]
    num_probes: eqx.AbstractVar[int | None]

    @property
    def random(self) -> bool:
        return self.observer.random or self.fresh_probes

    def check_probes(self):
        if self.fresh_probes and self.num_probes is None:
            raise ValueError("`fresh_probes=True` needs `num_probes` (T).")

    def probes_for(self, probes, key):
        """The probes of this evaluation: `probes`, or fresh ones drawn from `key`."""
        if self.fresh_probes:
            return sample_probes(self.observer.game, jax.random.fold_in(key, PROBE_STREAM),
                                 self.num_probes)
        if probes is None:
            raise ValueError("`probes` (shape (T, probe_dim)) are required unless "
                             "`fresh_probes=True`.")
        return probes

    def observe(self, theta, probes, key=None) -> tuple[Array, Bool[Array, " T"]]:
        """(strategies, ok): equilibria (T, *shape) or samples (T, N, *shape), and success flags."""
        key = self.check_key(key)
        return self.observer(theta, self.probes_for(probes, key), key)
