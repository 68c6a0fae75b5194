"""The result of an equilibrium or social-optimum solve, and the default tolerance."""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from .._solution import RESULTS, AbstractSolution

CONCEPTS = {
    "nash": "Nash equilibrium (no coupled constraints)",
    "variational": "variational equilibrium (Rosen's normalized equilibrium with equal weights: "
                   "one multiplier per shared constraint)",
    "normalized": "normalized equilibrium with Rosen's weights r (player i's multiplier of a "
                  "shared constraint is mu / r_i)",
    "generalized": "generalized Nash equilibrium with player-owned multipliers",
    "social_optimum": "social optimum (one planner maximising the game's welfare)",
}


def default_tol(dtype) -> float:
    """Default KKT tolerance eps^(2/3) of the dtype: about 3.7e-11 in float64, 2.4e-5 in float32,
    on the natural residual (`EquilibriumSolution.residual`)."""
    return float(jnp.finfo(dtype).eps) ** (2.0 / 3.0)


class EquilibriumSolution(AbstractSolution):
    """Result of `solve_equilibrium` (and of `social_optimum`).

    **Fields:**

    - `x`: the joint action, shape `game.action_shape` ((M,), (M, k) or the flat ragged layout);
      NaN where the solve failed.
    - `multipliers`: the multipliers of the inequality constraints, shape (C,): for a shared
      constraint the common multiplier mu_c (player i's is mu_c / r_i under Rosen weights r), for
      an owned constraint its owner's multiplier; NaN where the solve failed.
    - `equality_multipliers`: the multipliers of the equality constraints, shape (E,) (free
      sign), or None for a game without equality constraints.
    - `result`: a `RESULTS` code; `RESULTS.successful` iff `residual <= tol` and the second-order
      check passed (and theta/probe were valid).
    - `residual`: the natural KKT residual max |z - clip(z - Phi(z), L, U)| at the point found,
      the components decided by a finite bound measured relative to 1 + |bound|.
    - `num_steps`: iterations used.
    - `concept`: which solution this is (a static string): `"nash"`, `"variational"`,
      `"normalized"`, `"generalized"` or `"social_optimum"` (see `CONCEPTS`).
    """

    x: Array
    multipliers: Array
    equality_multipliers: Array | None
    result: RESULTS
    residual: Array
    num_steps: Array
    concept: str = eqx.field(static=True, default="variational")

    @property
    def stats(self) -> dict:
        """`{"residual": ..., "num_steps": ...}`."""
        return {"residual": self.residual, "num_steps": self.num_steps}
