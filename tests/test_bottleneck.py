"""The bottleneck engine behind the Pareto gap: both algorithms (closure, bit-set peeling) around
their switch points, ties, NaN/inf, batching (chunks, vmap, jit) and gradients, against the
independent threshold-graph reference and each other."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmd_rp as rp
from jaxmd_rp import _bottleneck as bn
from tests.reference.check_references import integer_values, linear_budget_values
from tests.reference.pareto_gap_lp import pareto_gap_threshold_graph


def _cases(rng, T, n=2):
    """Budget data (usually decided by the 2-cycle bound), integer ties, and a Hamiltonian cycle
    hidden under light 2-cycles (only level raising finds it)."""
    out = []
    for _ in range(n):
        out.append(linear_budget_values(rng, 3, T, 3)[0])
        out.append(integer_values(rng, 3, T))
        W = np.full((3, T, T), -10.0) + rng.random((3, T, T))
        W[1, np.arange(T), (np.arange(T) + 1) % T] = 5.0 + rng.random(T)
        out.append(-W)
    return np.stack(out)


def _on_optimal_cycle(W, B, t, s):
    """Independent check of an edge: W[t, s] = B and s reaches t in {W >= B} (or s = t)."""
    if W[t, s] != B:
        return False
    R = W >= B
    for k in range(R.shape[0]):
        R = R | (R[:, k : k + 1] & R[k : k + 1, :])
    return bool(s == t or R[s, t])


# switch points: byte words (8), the peeling thresholds, the unrolled closure (64)
@pytest.mark.parametrize("T", [2, 8, bn.PEEL_T["cpu"], 17, bn.PEEL_T_ONE, 65])
def test_both_algorithms_exact_and_equal(T):
    rng = np.random.default_rng(T)
    vals = _cases(rng, T)
    ref = np.array([pareto_gap_threshold_graph(v) for v in vals])
    W = -jnp.asarray(vals)
    results = {}
    for peel in (True, False):
        solve = jax.jit(jax.vmap(lambda w, peel=peel: bn.solve_group(w, -np.inf, peel=peel)))
        B, i, t, s = (np.asarray(x) for x in solve(W))
        results[peel] = B
        for k in range(len(vals)):
            assert _on_optimal_cycle(np.asarray(W[k, i[k]]), B[k], t[k], s[k]), (peel, k)
        np.testing.assert_array_equal(np.maximum(B, 0.0), ref)
    np.testing.assert_array_equal(results[True], results[False])  # also below zero
    np.testing.assert_array_equal(np.asarray(rp.pareto_gap(jnp.asarray(vals))), ref)


@pytest.mark.parametrize("T", [10, 50])
def test_chunks_vmap_jit_and_loop_agree(T):
    """Batches that do not fill the last chunk (it overlaps the one before), vmap, jit and a loop
    of single calls (which may use the other algorithm) give the same floats."""
    rng = np.random.default_rng(100 + T)
    vals = jnp.asarray(np.concatenate([_cases(rng, T, n=2), _cases(rng, T, n=1)[:1]]))  # n = 7
    L = np.asarray(rp.pareto_gap(vals))
    np.testing.assert_array_equal(L, [pareto_gap_threshold_graph(np.asarray(v)) for v in vals])
    np.testing.assert_array_equal(np.asarray(jax.jit(rp.pareto_gap)(vals)), L)
    np.testing.assert_array_equal(np.asarray(jax.vmap(rp.pareto_gap)(vals)), L)
    np.testing.assert_array_equal([float(rp.pareto_gap(v)) for v in vals], L)
    np.testing.assert_array_equal(np.asarray(rp.pareto_gap(vals.reshape((7, 1, 3, T, T))))[:, 0], L)


@pytest.mark.parametrize("T", [5, 40])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_entries(T, bad):
    rng = np.random.default_rng(7)
    vals = _cases(rng, T, n=1)
    vals[1, 2, T - 1, 0] = bad
    L = np.asarray(rp.pareto_gap(jnp.asarray(vals), throw=False))
    assert np.isnan(L[1]) and not np.any(np.isnan(np.delete(L, 1)))
    np.testing.assert_array_equal(np.delete(L, 1), [pareto_gap_threshold_graph(v)
                                                    for v in np.delete(vals, 1, axis=0)])
    with pytest.raises(ValueError, match="`values` contains NaN or inf entries"):
        rp.pareto_gap(jnp.asarray(vals))
    with pytest.raises(ValueError, match="`values` contains NaN or inf entries"):
        rp.pareto_gap(vals[1])  # a single data set
    with pytest.raises(eqx.EquinoxRuntimeError, match="`values` contains NaN or inf entries"):
        eqx.filter_jit(rp.pareto_gap)(jnp.asarray(vals))
    B = np.asarray(bn.bottleneck_group_edge(-jnp.asarray(vals))[0])
    assert np.isnan(B[1]) and not np.any(np.isnan(np.delete(B, 1)))


def test_refusal_does_not_swallow_other_errors():
    """Only the gap's own runtime error becomes a ValueError; healthy data raise nothing."""
    v = jnp.asarray(_cases(np.random.default_rng(3), 6, n=1))
    assert np.all(np.isfinite(np.asarray(rp.pareto_gap(v))))

    def other(x):
        raise ValueError("some other failure")

    with pytest.raises(ValueError, match="^some other failure$"):
        rp._pareto_gap.run_refusing(other, v, message="`values` contains NaN or inf entries.")


@pytest.mark.parametrize("T", [12, 30])
def test_gradient_is_minus_the_bottleneck_edge(T):
    rng = np.random.default_rng(200 + T)
    vals = _cases(rng, T, n=1)
    vals[1, 0, 1, 1] = np.nan  # a failed data set: NaN gradient there only
    g = np.asarray(jax.grad(lambda x: jnp.sum(rp.pareto_gap(x, throw=False)))(jnp.asarray(vals)))
    assert np.all(np.isnan(g[1])) and not np.any(np.isnan(g[[0, 2]]))
    for k in (0, 2):
        v, L = vals[k], float(rp.pareto_gap(jnp.asarray(vals[k])))
        assert L > 0
        i, t, s = np.unravel_index(np.argmin(g[k]), g[k].shape)
        assert g[k].sum() == -1.0 and v[i, t, s] == -L
        assert _on_optimal_cycle(-v[i], L, t, s)
    # finite differences away from ties (budget data): L moves with its bottleneck entry
    v = jnp.asarray(vals[0])
    d = jnp.asarray(rng.normal(size=v.shape))
    h = 1e-7
    fd = (float(rp.pareto_gap(v + h * d)) - float(rp.pareto_gap(v - h * d))) / (2 * h)
    assert fd == pytest.approx(float(jnp.sum(jax.grad(rp.pareto_gap)(v) * d)), abs=1e-6)


def test_float32_exact():
    """A max-min of entries: float32 data give the float64 answer on the same (float32) numbers."""
    vals = _cases(np.random.default_rng(9), 20, n=1).astype(np.float32)
    L32 = rp.pareto_gap(jnp.asarray(vals))
    assert L32.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(L32, np.float64),
                                  np.asarray(rp.pareto_gap(jnp.asarray(vals, jnp.float64))))
