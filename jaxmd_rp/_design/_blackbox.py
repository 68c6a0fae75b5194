"""Black-box design methods: a step that only evaluates the objective splits into ask and tell.

    query = method.ask(key, state)              # the K mechanisms to evaluate: query.theta (K, p)
    values = ...                                # the objective at them, by anyone (K,)
    state, info = method.tell(state, query, values)

`step(key, state, fn, args)` is exactly this with `fn(query.theta[j], args, query.key)` in the
middle, so a method driven through ask and tell by an outside system computes the same numbers as
the same method driven by `design_minimise` or `run_study` with the same keys. SPSA is such a
method (it never needs the objective's gradient); `GradientDesign` is not.
"""

import abc
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
from jaxtyping import Array

from ._base import AbstractDesignMethod, AbstractDesignState, scalar_value


class AbstractQuery(eqx.Module):
    """What one iteration of a black-box method asks: evaluate the objective at `theta` (K, p),
    every evaluation with the key `key` (common random numbers)."""

    theta: eqx.AbstractVar[Array]
    key: eqx.AbstractVar[Array]
    n: eqx.AbstractVar[Array]


class AbstractBlackBoxMethod(AbstractDesignMethod):
    """A design method that only evaluates the objective: `ask` / `tell` (see module docstring)."""

    @abc.abstractmethod
    def ask(self, key, state: AbstractDesignState) -> AbstractQuery:
        """The mechanisms to evaluate at iteration `state.n` (pure in `key` and `state`)."""

    @abc.abstractmethod
    def tell(self, state: AbstractDesignState, query: AbstractQuery, values):
        """`values` (K,): the objective at `query.theta`. Returns `(new_state, info)`."""

    def step(self, key, state: AbstractDesignState, fn: Callable, args: Any = None):
        """One iteration: `ask`, `fn(theta, args, key)` at the asked mechanisms, `tell`."""
        query = self.ask(key, state)
        vals = scalar_value(jax.vmap(fn, in_axes=(0, None, None))(query.theta, args, query.key))
        return self.tell(state, query, vals)
