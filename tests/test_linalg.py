"""The dense solves behind every equilibrium (`jaxmd_rp._linalg`): the unrolled elimination
against an independent numpy elimination with partial pivoting (the same arithmetic; XLA may
contract a - f b into one fused multiply-add, so agreement is to rounding, not bits) and against
`numpy.linalg.solve`, on ties, singular and non-finite systems; the same bits whatever the
batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmd_rp._linalg import UNROLL_MAX, cholesky_solve_small, lu_solve_rows, lu_solve_small


def _numpy_elimination(A, b):
    """Textbook Gaussian elimination with partial pivoting (numpy's argmax: the first row of
    largest |a_rk|), then back substitution; None where a pivot is below 64 eps max|A|."""
    n = A.shape[0]
    M = np.concatenate([A, b[:, None]], axis=1).astype(np.float64)
    limit = 64 * np.finfo(np.float64).eps * np.max(np.abs(A)) + np.finfo(np.float64).tiny
    for k in range(n):
        piv = k + int(np.argmax(np.abs(M[k:, k])))
        M[[k, piv]] = M[[piv, k]]
        if not abs(M[k, k]) > limit:
            return None
        for r in range(k + 1, n):
            f = M[r, k] / M[k, k]
            M[r, k + 1 :] = M[r, k + 1 :] - f * M[k, k + 1 :]
            M[r, k] = 0.0
    x = np.zeros(n)
    for k in reversed(range(n)):
        acc = M[k, n]
        for j in range(k + 1, n):
            acc = acc - M[k, j] * x[j]
        x[k] = acc / M[k, k]
    return x


def _systems(n, count, seed):
    """Random systems, with rows that need pivoting (a zero leading entry), ties in |a_rk|, and
    singular ones (a repeated row)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((count, n, n))
    b = rng.standard_normal((count, n))
    A[::4, 0, 0] = 0.0
    if n > 1:
        A[1::4, 1, 0] = -A[1::4, 0, 0]  # |tie| in the first column: the first row is the pivot
        A[2::8, 1] = A[2::8, 0]  # singular
    return A, b


@pytest.mark.parametrize("n", range(1, UNROLL_MAX + 1))
def test_unrolled_elimination_is_the_textbook_one(n):
    A, b = _systems(n, 64, seed=n)
    x, ok = jax.jit(lu_solve_small)(jnp.asarray(A), jnp.asarray(b))
    x, ok = np.asarray(x), np.asarray(ok)
    for i in range(A.shape[0]):
        ref = _numpy_elimination(A[i], b[i])
        assert ok[i] == (ref is not None), i
        if ref is not None:
            scale = 1e-10 * np.max(np.abs(ref))
            np.testing.assert_allclose(x[i], ref, rtol=1e-10, atol=scale)
            np.testing.assert_allclose(x[i], np.linalg.solve(A[i], b[i]), rtol=1e-8, atol=scale)
    if n > 1:
        assert not ok[2::8].any()


@pytest.mark.parametrize("n", range(1, UNROLL_MAX + 1))
def test_elementwise_pivot_choice_is_argmax_bit_for_bit(n):
    """`fused_pivot=True` (elementwise choice, entries given row by row) picks argmax's row: the
    same `ok` and the same bits as `lu_solve_small`, ties and NaN columns included."""
    A, b = _systems(n, 64, seed=10 + n)
    A[5, :, 0] = np.nan  # a NaN pivot column: argmax picks the NaN, the elementwise rule row k
    rows = [[jnp.asarray(A[:, i, j]) for j in range(n)] + [jnp.asarray(b[:, i])] for i in range(n)]
    x1, ok1 = jax.jit(lu_solve_small)(jnp.asarray(A), jnp.asarray(b))
    x2, ok2 = jax.jit(lambda r: lu_solve_rows(r, fused_pivot=True))(rows)
    np.testing.assert_array_equal(np.asarray(ok1), np.asarray(ok2))
    assert not bool(ok2[5])
    good = np.asarray(ok1)
    np.testing.assert_array_equal(np.asarray(x1)[good], np.asarray(x2)[good])


def test_the_same_bits_one_at_a_time_and_in_a_batch():
    A, b = _systems(5, 32, seed=7)
    batch = np.asarray(jax.jit(lu_solve_small)(jnp.asarray(A), jnp.asarray(b))[0])
    one = jax.jit(lu_solve_small)
    for i in range(0, 32, 5):
        np.testing.assert_array_equal(np.asarray(one(jnp.asarray(A[i]), jnp.asarray(b[i]))[0]),
                                      batch[i])


def test_non_finite_systems_are_not_ok_and_leave_the_others_alone():
    A, b = _systems(4, 8, seed=3)
    A[1, 2, 0] = np.nan
    A[2, :, 1] = np.inf
    A[3, 0, 0] = np.nan  # NaN in the pivot column's first row
    x, ok = jax.jit(lu_solve_small)(jnp.asarray(A), jnp.asarray(b))
    assert not np.asarray(ok)[1:4].any()
    for i in (0, 4, 5, 6, 7):
        np.testing.assert_allclose(np.asarray(x[i]), _numpy_elimination(A[i], b[i]), rtol=1e-10)


def test_larger_systems_use_lapack_with_the_same_singularity_test():
    rng = np.random.default_rng(0)
    n = UNROLL_MAX + 2
    A = rng.standard_normal((3, n, n))
    b = rng.standard_normal((3, n))
    A[2, 3] = A[2, 1]
    x, ok = jax.jit(lu_solve_small)(jnp.asarray(A), jnp.asarray(b))
    assert np.asarray(ok).tolist() == [True, True, False]
    np.testing.assert_allclose(np.asarray(x[:2]), np.linalg.solve(A[:2], b[:2][..., None])[..., 0],
                               rtol=1e-10)


@pytest.mark.parametrize("n", [1, 3, UNROLL_MAX + 1])
def test_cholesky_solve_matches_numpy(n):
    rng = np.random.default_rng(n)
    R = rng.standard_normal((5, n, n))
    A = R @ np.swapaxes(R, -1, -2) + n * np.eye(n)
    b = rng.standard_normal((5, n))
    x = jax.jit(cholesky_solve_small)(jnp.asarray(A), jnp.asarray(b))
    np.testing.assert_allclose(np.asarray(x), np.linalg.solve(A, b[..., None])[..., 0], rtol=1e-10)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 7])
def test_positive_definite_small_matches_numpy_eigenvalues(n):
    """Cholesky pivots above tol (unrolled up to UNROLL_MAX, eigvalsh beyond) against numpy's
    eigenvalues on random symmetric matrices shifted to either side of definiteness."""
    from jaxmd_rp._linalg import positive_definite_small

    rng = np.random.default_rng(n)
    A = rng.normal(size=(200, n, n))
    S = A + np.swapaxes(A, 1, 2)
    lam = np.linalg.eigvalsh(S)[:, 0]
    S = S + (rng.uniform(-1.0, 1.0, 200) - lam)[:, None, None] * np.eye(n)  # smallest in [-1, 1]
    expected = np.linalg.eigvalsh(S)[:, 0] > 0.0
    got = np.asarray(positive_definite_small(jnp.asarray(S), 0.0))
    margin = np.abs(np.linalg.eigvalsh(S)[:, 0]) > 1e-9
    np.testing.assert_array_equal(got[margin], expected[margin])
    assert 40 < expected.sum() < 160
