r"""Restarts: a path that has not reached zero after K iterations starts again from a fresh theta_1.

`Restarts(method, after=K, low=..., high=...)` wraps any design method whose paths stop at zero
(`stop_tol` set). After every step it restarts the paths that have run K iterations since their
last (re)start without stopping: theta is redrawn uniformly from [low, high] (the box theta_1 came
from) with the key `fold_in(key_n, RESTART_STREAM)` and the wrapped method's state is initialised
again (so SPSA's gains a_n, c_n, q_n start again from n = 1). The wrapped method sees the same
iteration keys as without the wrapper, so a path is unchanged until its first restart. It is the
`restart_after` option of a study (`jaxmd-rp study --restart-after K`); the paper never restarts.
"""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from .._design._base import AbstractDesignMethod, AbstractDesignState, freeze

RESTART_STREAM = 101  # fold_in(key_n, RESTART_STREAM): the fresh theta of a restart


class RestartState(AbstractDesignState):
    """The wrapped method's state (`inner`), the path's iteration index `n` (the driver's key
    stream, never reset), `theta`/`stopped` (those of `inner`) and the number of `restarts`."""

    theta: Array
    n: Array
    stopped: Array
    inner: Any
    restarts: Array


class Restarts(AbstractDesignMethod):
    """Restart paths that have not stopped after `after` iterations (see the module docstring)."""

    method: AbstractDesignMethod
    low: Array
    high: Array
    after: int = eqx.field(static=True, default=10)

    def __check_init__(self):
        if isinstance(self.after, bool) or not isinstance(self.after, int) or self.after < 1:
            raise ValueError(f"`after` must be an integer >= 1; got {self.after!r}.")
        if getattr(self.method, "stop_tol", None) is None:
            raise ValueError("restarts need a method that stops at zero (`stop_tol` set): "
                             "otherwise every path would restart every `after` iterations.")

    @property
    def lower(self):
        return self.method.lower

    @property
    def upper(self):
        return self.method.upper

    def init(self, theta0) -> RestartState:
        inner = self.method.init(theta0)
        return RestartState(theta=inner.theta, n=jnp.array(1), stopped=inner.stopped,
                            inner=inner, restarts=jnp.array(0))

    def step(self, key, state: RestartState, fn, args=None):
        inner, info = self.method.step(key, state.inner, fn, args)
        due = ~inner.stopped & (inner.n > self.after)
        theta = jax.random.uniform(jax.random.fold_in(key, RESTART_STREAM), inner.theta.shape,
                                   inner.theta.dtype, minval=self.low, maxval=self.high)
        inner = freeze(due, self.method.init(theta), inner)  # the fresh state where due
        return RestartState(theta=inner.theta, n=state.n + 1, stopped=inner.stopped, inner=inner,
                            restarts=state.restarts + due.astype(state.restarts.dtype)), info
