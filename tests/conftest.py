"""Test configuration: float64 everywhere (the library itself never flips `jax_enable_x64`)."""

import jax
import pytest

jax.config.update("jax_enable_x64", True)


@pytest.fixture
def key():
    return jax.random.PRNGKey(0)
