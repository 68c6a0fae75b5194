"""Result objects of the robust gap, the separation oracle and Algorithm 2."""

import equinox as eqx
from jaxtyping import Array

from .._solution import RESULTS


class RobustGap(eqx.Module):
    """Result of `robust_pareto_gap`.

    **Fields:**

    - `value`: the robust gap L_DR^eps as computed: equal to `upper`, the worst-case expected
      loss of the returned certificate (orders, kappa), which is attained. For one sample or
      identical samples `upper - lower` is the width of the kappa search (about 1e-12 in float64).
    - `lower`, `upper`: certified bounds, lower <= L_DR <= upper. For distinct samples `lower`
      lets each sample choose its own orders (a relaxation); `upper` uses shared orders.
    - `kappa`: the Wasserstein multiplier of the certificate (v_{N+1} of eq. 17).
    - `orders`: (M, T) ints, agent i's experiments from top (largest u) to bottom; psi with
      h(psi, .) <= h_sigma + eta is `certificate_from_orders(orders, eta)`.
    - `result`: `RESULTS.successful`; `RESULTS.robust_gap_inexact` when the kappa search did not
      narrow its own bracket to `tol` (increase `rounds`); `RESULTS.robust_gap_bracket` when, with
      distinct samples, the certified bracket [lower, upper] is wider than `tol`: `value` (= upper)
      is then an attained upper bound that can exceed L_DR (use `exact=True` for the exact value).
    """

    value: Array
    lower: Array
    upper: Array
    kappa: Array
    orders: Array
    result: RESULTS


class Separation(eqx.Module):
    """Result of `separation_oracle` for one sample k.

    - `value`: sup_{Phi in Gamma} [h_U(Phi) - kappa d(Phi, Phi_k)].
    - `cv`: value - v_k (the constraint violation CV_k of eq. 19).
    - `agent`, `block`, `probe`: the maximising edge (i*, s*, t*) (first flat index on ties).
    - `point`: the moved bundle gamma* of block (i*, s*); `distance` = ||gamma* - x_{s*,k}^{i*}||.
    The maximiser Phi_k is the sample with block (i*, s*) replaced by `point`.
    """

    value: Array
    cv: Array
    agent: Array
    block: Array
    probe: Array
    point: Array
    distance: Array


class ExchangeSolution(eqx.Module):
    """Result of `exchange_method` (Algorithm 2).

    **Fields:**

    - `value`: the worst-case expected loss of the returned certificate (orders), i.e. the line-13
      quantity sup_Q E_Q h(psi_hat) computed as a DRO value (min over kappa), not as the paper's
      max over Gamma_eps (a worst case, not an expectation). lower <= L_DR <= value <= upper.
    - `lower`: the last master value (a certified lower bound on L_DR).
    - `upper`: eps kappa_hat + mean_k (v_hat_k + CV_k^+) at the last iteration (feasible for (17)).
    - `kappa`, `orders`: the certificate (kappa_hat, per-agent orders top first).
    - `iterations`: separation rounds run (the paper's while-loop passes); masters = iterations - 1.
    - `max_cv`, `history_lower`, `history_upper`: per iteration n = 1..iterations (NaN after):
      max_k CV_k at the start of round n, and the bounds then known.
    - `result`: `RESULTS.successful` or `RESULTS.exchange_max_iterations`.
    """

    value: Array
    lower: Array
    upper: Array
    kappa: Array
    orders: Array
    iterations: Array
    max_cv: Array
    history_lower: Array
    history_upper: Array
    result: RESULTS
