"""Shared test problems and methods: every design method passes one suite (test_design_suite.py).

Objectives with known answers, `fn(theta, args, key)`:

- `quadratic`: sum((theta - args)^2), minimiser args (inside the box), deterministic;
- `noisy_quadratic`: the same plus N(0, 0.01^2) from the key (common random numbers for SPSA);
- `nan_objective`: NaN everywhere (every step must be skipped and flagged).
"""

import contextlib

import jax
import jax.numpy as jnp
import optax

import jaxmd_rp as rp

BOX = (-jnp.ones(3), jnp.ones(3))


def quadratic(theta, args, key):
    return jnp.sum((theta - args) ** 2)


def noisy_quadratic(theta, args, key):
    return jnp.sum((theta - args) ** 2) + 0.01 * jax.random.normal(key, dtype=theta.dtype)


def nan_objective(theta, args, key):
    return jnp.sum(theta) * jnp.nan


def spsa(**kw):
    return rp.SPSA(*BOX, **{"q": 0.01, "stop_tol": None, **kw})


def gradient_adam(**kw):
    return rp.GradientDesign(*BOX, **{"learning_rate": 0.05, "stop_tol": None, **kw})


def gradient_sgd(**kw):
    return rp.GradientDesign(*BOX, **{"optimizer": optax.sgd, "learning_rate": 0.2,
                                      "stop_tol": None, **kw})


# name -> (factory, steps to converge on `quadratic`, tolerance on theta there, gain to vary,
#          settings for the convergence check)
DESIGN_METHODS = {
    "spsa": (spsa, 300, 0.05, "a", {"q": 0.0}),
    "gradient-adam": (gradient_adam, 300, 1e-3, "learning_rate", {}),
    "gradient-sgd": (gradient_sgd, 100, 1e-6, "learning_rate", {}),
}


def paths_problem(P=5, seed=0):
    """theta0 (P, 3) and per-path targets (P, 3) inside the box."""
    theta0 = jax.random.uniform(jax.random.PRNGKey(seed), (P, 3), minval=-0.9, maxval=0.9)
    targets = jax.random.uniform(jax.random.PRNGKey(seed + 1), (P, 3), minval=-0.5, maxval=0.5)
    return theta0, targets


@contextlib.contextmanager
def count_compilations():
    """Count XLA backend compilations inside the block: `with count_compilations() as n: ...;
    n[0]`."""
    count = [0]

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            count[0] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield count
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
