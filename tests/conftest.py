"""Test configuration: float64 everywhere (the library itself never flips `jax_enable_x64`), strict
dtype promotion (an implicit float32/float64 or int/float mix in the library is an error), the
command line's compilation cache in a temporary folder, compiled programs released after every
test module (a worker process runs many modules; its memory stays that of one), and the slow tier.

Slow tests (subprocesses, 8 simulated devices, notebooks, long statistical checks) carry the
`slow` mark; the README's test command runs everything, `python -m pytest -m "not slow"` the fast
tier.
"""

import os
import tempfile

import jax
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
os.environ.setdefault("JAXMD_RP_COMPILE_CACHE", tempfile.mkdtemp(prefix="jaxmd_rp_xla_cache_"))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs():
    yield
    jax.clear_caches()


@pytest.fixture
def key():
    return jax.random.PRNGKey(0)
