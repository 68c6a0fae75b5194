r"""Gradient-based mechanism design: the alternative to SPSA that JAX makes possible.

The paper uses SPSA because "it is not immediately obvious how one could access or compute the
gradient" of the Pareto gap. In JAX it is: the equilibria are differentiable through their
optimality conditions (implicit function theorem, `solve_equilibrium`), the probe values are
smooth in the equilibria, and the gap is a max-min of probe values whose gradient is minus the
indicator of the bottleneck edge (`pareto_gap`). `GradientDesign` has the same `init` /
`step(key, state, fn, args)` interface as `SPSA` (`AbstractDesignMethod`), so `design_minimise`
(alias `spsa_minimise`) and `run_study` run either: switch the method by one argument.

Two objectives:

- the exact gap (any objective, e.g. `ParetoGapObjective`): a projected (sub)gradient method. L is
  piecewise smooth; its gradient is zero once L = 0 (the path stops) and on flat pieces.
- a smoothed gap (`SmoothedGapObjective(objective, tau0)`, any `AbstractSurrogateObjective`): the
  same closure with soft maxima/minima at temperature tau_n = tau0 / sqrt(n) (annealed),
  `pareto_gap_smooth`. It is within
  tau (2 T log 2 + log(M T) + log 2) of the gap and spreads the gradient over the near-critical
  cycles.

Projection onto Theta after each optax update (`optax.projections.projection_box`). Use SPSA when
the system is a true black box (no gradients); use this when the game is differentiable.
"""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array

from .._objective import AbstractSurrogateObjective
from .._observe import as_leaf, is_concrete
from ._base import (
    AbstractDesignInfo,
    AbstractDesignMethod,
    AbstractDesignState,
    check_box,
    freeze,
)


class GradientState(AbstractDesignState):
    """State of one gradient-design path: `theta`, the optimiser state, `n`, `stopped`."""

    theta: Array
    opt_state: Any
    n: Array
    stopped: Array


class GradientInfo(AbstractDesignInfo):
    """`value` = L(theta_n) (exact gap), `surrogate` = the minimised objective, `gradient`."""

    value: Array
    surrogate: Array
    gradient: Array
    stopped: Array
    failed: Array


class GradientDesign(AbstractDesignMethod):
    """Projected gradient design with an optax optimiser (same interface as `SPSA`).

    **Arguments:**

    - `lower`, `upper`: the box Theta.
    - `optimizer`: an optax optimiser *factory* taking the learning rate (default `optax.adam`),
      or a ready `optax.GradientTransformation` (e.g. `optax.sgd(0.2)`).
    - `learning_rate`: passed to the factory (default 0.05); an array leaf, so a new value does
      not recompile and a sweep can vmap over it. Ignored for a ready transformation.
    - `stop_tol`: freeze a path once L(theta_n) <= stop_tol (default 1e-9; `None` never stops).

    Equal configurations compile once: the factory is a module-level function and the learning
    rate an array. (A ready `GradientTransformation` is compared by identity: build it once and
    reuse it.)

    The objective `fn(theta, args, key)` must be differentiable in theta (e.g.
    `ParetoGapObjective`); with an `AbstractSurrogateObjective` such as `SmoothedGapObjective` the
    surrogate is minimised and the exact gap (for stopping and `info.value`) comes from the same
    equilibrium solves.

    ```python
    >>> import jax, jax.numpy as jnp, jaxmd_rp as rp
    >>> method = rp.GradientDesign(-jnp.ones(2), jnp.ones(2), learning_rate=0.1, stop_tol=None)
    >>> fn = lambda th, args, key: jnp.sum((th - 0.3) ** 2)
    >>> tr = rp.design_minimise(fn, method, jnp.zeros((4, 2)), key=jax.random.PRNGKey(0),
    ...                         num_steps=200)
    >>> bool(jnp.allclose(tr.theta[-1], 0.3, atol=1e-3))
    True

    ```
    """

    lower: Array
    upper: Array
    optimizer: Callable[..., optax.GradientTransformation] | optax.GradientTransformation = (
        eqx.field(static=True, default=optax.adam))
    learning_rate: Array = eqx.field(default=0.05, converter=as_leaf)
    stop_tol: float | None = eqx.field(static=True, default=1e-9)

    def __check_init__(self):
        check_box(self.lower, self.upper)
        if not (isinstance(self.optimizer, optax.GradientTransformation) or callable(self.optimizer)):
            raise TypeError("`optimizer` must be an optax optimiser factory (e.g. optax.adam) or an "
                            f"optax.GradientTransformation; got {type(self.optimizer).__name__}.")
        if is_concrete(self.learning_rate) and not float(self.learning_rate) > 0:
            raise ValueError(f"`learning_rate` must be > 0; got {float(self.learning_rate)}.")
        if self.stop_tol is not None and not (isinstance(self.stop_tol, (int, float))
                                              and float(self.stop_tol) >= 0):
            raise ValueError(f"`stop_tol` must be a number >= 0 or None; got {self.stop_tol!r}.")

    @property
    def transformation(self) -> optax.GradientTransformation:
        """The optax transformation used for the updates."""
        if isinstance(self.optimizer, optax.GradientTransformation):
            return self.optimizer
        return self.optimizer(self.learning_rate)

    def init(self, theta0) -> GradientState:
        theta0 = self.project(self.check_theta0(theta0))
        with jax.numpy_dtype_promotion("standard"):
            opt_state = self.transformation.init(theta0)
        return GradientState(theta=theta0, opt_state=opt_state, n=jnp.array(1),
                             stopped=jnp.array(False))

    def step(self, key, state: GradientState, fn: Callable, args: Any = None):
        theta = state.theta
        if isinstance(fn, AbstractSurrogateObjective):
            (surrogate, value), grad = jax.value_and_grad(
                lambda th: fn.surrogate(th, args, key, state.n), has_aux=True)(theta)
        else:
            value, grad = jax.value_and_grad(lambda th: fn(th, args, key))(theta)
            surrogate = value
        if jnp.ndim(value) != 0:
            raise ValueError("the objective `fn(theta, args, key)` must return a scalar; it "
                             f"returned shape {jnp.shape(value)}.")
        stopped = state.stopped
        if self.stop_tol is not None:
            stopped = stopped | (value <= self.stop_tol)
        failed = ~(jnp.all(jnp.isfinite(grad)) & jnp.isfinite(value))
        grad = jnp.where(failed, 0.0, grad)
        with jax.numpy_dtype_promotion("standard"):  # optax mixes Python floats and int counts
            updates, opt_state = self.transformation.update(grad, state.opt_state, theta)
            new = self.project(optax.apply_updates(theta, updates))
        frozen = stopped | failed
        new, opt_state = freeze(frozen, (theta, state.opt_state), (new, opt_state))
        info = GradientInfo(value=value, surrogate=surrogate, gradient=grad, stopped=stopped,
                            failed=failed & ~stopped)
        return GradientState(theta=new, opt_state=opt_state, n=state.n + 1, stopped=stopped), info
