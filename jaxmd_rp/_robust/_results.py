"""Result objects of the robust gap, the separation oracle and Algorithm 2 (`AbstractSolution`s:
output fields, `result`, `stats`, `.success`)."""

from jaxtyping import Array

from .._solution import RESULTS, AbstractSolution


class RobustGap(AbstractSolution):
    """Result of `robust_pareto_gap` and `robust_pareto_gap_game`.

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
      is then an attained upper bound that can exceed L_DR (use `exact=True` for the exact value);
      `RESULTS.invalid_epsilon` / `RESULTS.invalid_samples` for invalid inputs and
      `RESULTS.observation_failed` (`RobustGapObjective`) when an equilibrium could not be
      observed: then the numbers are NaN and `orders` is -1.
    """

    value: Array
    lower: Array
    upper: Array
    kappa: Array
    orders: Array
    result: RESULTS

    @property
    def stats(self) -> dict:
        """`bracket`: upper - lower, the width of the certified bracket."""
        return {"bracket": self.upper - self.lower}


class Separation(AbstractSolution):
    """Result of `separation_oracle` for one sample k.

    **Fields:**

    - `value`: sup_{Phi in Gamma} [h_U(Phi) - kappa d(Phi, Phi_k)].
    - `cv`: value - v_k (the constraint violation CV_k of eq. 19).
    - `agent`, `block`, `probe`: the maximising edge (i*, s*, t*) (first flat index on ties).
    - `point`: the moved bundle gamma* of block (i*, s*); `distance` = ||gamma* - x_{s*,k}^{i*}||.
    - `result`: `RESULTS.successful`, or `RESULTS.invalid_samples` (outputs NaN, indices -1).

    The maximiser Phi_k is the sample with block (i*, s*) replaced by `point`.
    """

    value: Array
    cv: Array
    agent: Array
    block: Array
    probe: Array
    point: Array
    distance: Array
    result: RESULTS

    @property
    def stats(self) -> dict:
        """`moved`: whether the maximiser moves a block (value > 0)."""
        return {"moved": self.value > 0}


class ExchangeSolution(AbstractSolution):
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
    - `result`: `RESULTS.successful`, `RESULTS.exchange_max_iterations`, `RESULTS.milp_failed`
      (`master="milp"`), or `RESULTS.invalid_epsilon` / `RESULTS.invalid_samples` (numbers NaN,
      `orders` -1, `iterations` 0).
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

    @property
    def stats(self) -> dict:
        """`iterations` (separation rounds) and `bracket` (upper - lower)."""
        return {"iterations": self.iterations, "bracket": self.upper - self.lower}
