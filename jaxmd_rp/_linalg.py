"""Dense solves for the tiny systems of equilibrium problems.

Equilibrium KKT systems have a handful of unknowns (the river game: 3 actions + 2 multipliers), and
they come by the thousand under `vmap`. A batched LAPACK call per Newton step is dominated by
per-matrix overhead on CPU, so for n <= `UNROLL_MAX` the elimination is unrolled at trace time into
elementwise operations on the batch (vectorised on CPU, one fused kernel on GPU). Larger systems
use LAPACK's batched LU (an unrolled n x n elimination has O(n^3) operations in the graph, and its
compile time grows with them).
"""

import jax
import jax.numpy as jnp
import jax.scipy.linalg  # noqa: F401  (jax.scipy.linalg.lu_factor)

UNROLL_MAX = 6


def lu_solve_small(A, b):
    """Solve A x = b by Gaussian elimination with partial pivoting; returns (x, ok).

    `ok` is False where a pivot is (numerically) zero; x is then not finite or meaningless.
    """
    n = A.shape[-1]
    if n > UNROLL_MAX:
        return _lu_solve_lapack(A, b)
    rows = [[A[..., i, j] for j in range(n)] + [b[..., i]] for i in range(n)]
    return lu_solve_rows(rows, scale=jnp.max(jnp.abs(A), axis=(-2, -1)))


def lu_solve_rows(M, *, fused_pivot=False, scale=None):
    """`lu_solve_small` on the rows [a_i0, ..., a_i(n-1), b_i] of the augmented system, each entry
    a batch-shaped array (n <= `UNROLL_MAX`): callers that build the entries elementwise never
    materialise the (batch, n, n) matrix.

    `fused_pivot`: choose each pivot row elementwise instead of by an argmax reduction (the same
    row, so the same bits). Outside loops the elimination then fuses into fewer kernels (one
    river equilibrium: 74 -> 52 kernels); inside a loop body XLA duplicates the elementwise choice
    into several fusions and it is 20-30 % slower (measured on the semismooth Newton loop and
    the one-pattern loop the enumeration had then), so the default is the reduction. `scale`: max |a_ij| per system if the
    caller has it (the singularity test's scale; computed from the entries otherwise)."""
    n = len(M)
    M = [list(row) for row in M]
    dtype = M[0][0].dtype
    tiny = jnp.finfo(dtype).tiny
    ok = jnp.ones(jnp.shape(M[0][0]), dtype=bool)
    if scale is None:  # max |a_ij|, elementwise over the entries
        scale = jnp.abs(M[0][0])
        for i in range(n):
            for j in range(n):
                scale = jnp.maximum(scale, jnp.abs(M[i][j]))
    for k in range(n):
        # partial pivoting: swap row k with the first row of largest |M[r][k]|, r >= k
        col = [jnp.abs(M[r][k]) for r in range(k, n)]
        sel = _first_largest(col) if fused_pivot else _argmax_masks(col)
        rows_k = M[k]
        pivot_row = [sum(jnp.where(sel[r - k], M[r][j], 0.0) for r in range(k, n))
                     for j in range(n + 1)]
        for r in range(k + 1, n):
            # row r takes the old row k where row r was the pivot row
            M[r] = [jnp.where(sel[r - k], rows_k[j], M[r][j]) for j in range(n + 1)]
        M[k] = pivot_row
        p = M[k][k]
        good = jnp.abs(p) > 64 * jnp.finfo(dtype).eps * scale + tiny
        ok = ok & good
        p = jnp.where(good, p, 1.0)
        for r in range(k + 1, n):
            f = M[r][k] / p
            M[r] = [M[r][j] - f * M[k][j] if j > k else jnp.zeros_like(M[r][j]) for j in range(n + 1)]
        M[k] = [jnp.where(good, M[k][j], 1.0 if j == k else 0.0) if j >= k else M[k][j]
                for j in range(n + 1)]
    x = [None] * n
    for k in reversed(range(n)):
        acc = M[k][n]
        for j in range(k + 1, n):
            acc = acc - M[k][j] * x[j]
        x[k] = acc / M[k][k]
    return jnp.stack(x, axis=-1), ok


def _argmax_masks(values):
    """One-hot masks of the first of `values` (batch arrays) with the largest value, by argmax."""
    piv = jnp.argmax(jnp.stack(values, axis=-1), axis=-1)
    return [piv == r for r in range(len(values))]


def _first_largest(values):
    """`_argmax_masks` written elementwise (no reduction); where a value is NaN (then no pivot is
    usable and `ok` is False) the first is chosen, not argmax's first NaN."""
    largest = values[0]
    for v in values[1:]:
        largest = jnp.maximum(largest, v)
    taken = jnp.zeros(largest.shape, bool)
    sel = []
    for v in values:
        s = (v == largest) & ~taken
        taken = taken | s
        sel.append(s)
    sel[0] = sel[0] | ~taken
    return sel


def _lu_solve_lapack(A, b):
    """LAPACK's LU with partial pivoting (batched), with the same zero-pivot test as the unrolled
    elimination: a pivot below 64 eps max|A| marks the system singular."""
    lu, piv = jax.scipy.linalg.lu_factor(A)
    pivots = jnp.abs(jnp.diagonal(lu, axis1=-2, axis2=-1))
    scale = jnp.max(jnp.abs(A), axis=(-2, -1))
    ok = jnp.all(pivots > 64 * jnp.finfo(A.dtype).eps * scale[..., None] + jnp.finfo(A.dtype).tiny,
                 axis=-1)
    x = jax.scipy.linalg.lu_solve((lu, piv), b[..., None])[..., 0]
    return x, ok & jnp.all(jnp.isfinite(x), axis=-1)


def _cholesky_small(A):
    """Unrolled Cholesky factor of a small symmetric A: (L as nested lists, the pivots s_j =
    L_jj^2 before the square root; all positive iff A is positive definite)."""
    n = A.shape[-1]
    tiny = jnp.finfo(A.dtype).tiny
    L = [[None] * n for _ in range(n)]
    pivots = []
    for j in range(n):
        s = A[..., j, j]
        for k in range(j):
            s = s - L[j][k] * L[j][k]
        pivots.append(s)
        d = jnp.sqrt(jnp.maximum(s, tiny))
        L[j][j] = d
        for i in range(j + 1, n):
            s = A[..., i, j]
            for k in range(j):
                s = s - L[i][k] * L[j][k]
            L[i][j] = s / d
    return L, pivots


def positive_definite_small(A, tol):
    """Whether the symmetric A is positive definite with margin `tol`: every Cholesky pivot above
    `tol` (unrolled for small n; the smallest eigenvalue above `tol` beyond `UNROLL_MAX`)."""
    n = A.shape[-1]
    if n > UNROLL_MAX:
        return jnp.linalg.eigvalsh(A)[..., 0] > tol
    ok = jnp.ones(A.shape[:-2], bool)
    for p in _cholesky_small(A)[1]:
        ok = ok & (p > tol)
    return ok


def cholesky_solve_small(A, b):
    """Solve A x = b for symmetric positive definite A (unrolled Cholesky for small n)."""
    n = A.shape[-1]
    if n > UNROLL_MAX:
        return jnp.linalg.solve(A, b[..., None])[..., 0]
    L, _ = _cholesky_small(A)
    y = [None] * n
    for i in range(n):
        acc = b[..., i]
        for k in range(i):
            acc = acc - L[i][k] * y[k]
        y[i] = acc / L[i][i]
    x = [None] * n
    for i in reversed(range(n)):
        acc = y[i]
        for k in range(i + 1, n):
            acc = acc - L[k][i] * x[k]
        x[i] = acc / L[i][i]
    return jnp.stack(x, axis=-1)
