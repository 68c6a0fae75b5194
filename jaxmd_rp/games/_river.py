"""The river-pollution game (Haurie & Krawczyk 1997; Krawczyk & Uryasev 2000; paper App. A.1).

Three firms i = 1, 2, 3 on a river choose production/pollution levels x_i >= 0. Two monitoring
stations l = 1, 2 cap the pollution the authority observes there:

    q_l(x; e) = sum_i delta_il e_i x_i <= 100,        l = 1, 2,

where delta_il are transport-decay coefficients and e_i the emission coefficients. The authority
(the designer) sets the mechanism theta = [d2, c11, c12, c13, c21, c22, c23] in Theta = [0, 1]^7 and
probes the system with e in [0, 1]^3.

**Profit, classic form (default).** The game the paper cites (Krawczyk & Uryasev 2000, solved by
the NIRA-3 package the authors used) has

    f^i(x) = [d1 - d2 * sum_j x_j - c1i - c2i * x_i] * x_i,

a linear inverse-demand law minus a quadratic cost. It is strictly concave in x_i whenever
d2 + c2i > 0, which is what the paper's Assumption 2 requires.

**Profit, printed form (`variant="printed"`).** The paper's eq. (20) prints

    f^i(x) = d1 x_i - d2 sqrt(sum_j x_j) - c1i sqrt(x_i) - c2i x_i,

whose second derivative in x_i is d2/(4 S^{3/2}) + c1i/(4 x_i^{3/2}) >= 0: it is *convex* in the
player's own action, violating Assumption 2. It is kept for reproduction only; the equilibrium
solver flags interior KKT points of it as `RESULTS.not_concave`.

**What the designer observes (`revealed_constraints`).** Three readings of "the probe constraint
g_t^i" are offered (they change the Pareto gap, see docs/river.md):

- `probe_reading="shared"` (default): every player faces the shared feasible set, so
  g_t^i(x) = max_l q_l(x; e_t)/scale - 100/scale for every i (R = 3 identical rows);
- `probe_reading="station"`: each monitoring station is its own probe row,
  g_t^l(x) = (q_l(x; e_t) - 100)/scale (R = 2 rows);
- `probe_reading="own"`: player i's own emissions at the binding station,
  g_t^i(x) = max_l (delta_il e_i x_i - 100 / 3)/scale (R = 3) -- an equal split of the cap.

`scale` is 100 by default (g is in units of the cap, so the gap is scale-free in the sense of the
paper's Algorithm 1 step sizes); `scale=1` gives raw pollution units.
"""

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from .._game import AbstractGame
from ._checks import check_number, check_shape

DEFAULT_THETA = (0.01, 0.10, 0.12, 0.15, 0.01, 0.05, 0.01)
DEFAULT_PROBE = (0.5, 0.25, 0.75)
DEFAULT_DELTA = ((6.5, 4.583), (5.0, 6.25), (5.5, 3.75))


class RiverPollution(AbstractGame):
    """The classic three-firm river-pollution game with the published constants.

    **Arguments:**

    - `variant`: `"classic"` (default) or `"printed"` profit (see module docstring).
    - `probe_reading`: `"shared"` (default), `"station"` or `"own"`.
    - `scale`: divisor of the probe values (default 100 = the cap; 1 = raw units).
    - `d1`, `delta`, `cap`: the published constants (3, Krawczyk-Uryasev delta, 100).

    theta = [d2, c11, c12, c13, c21, c22, c23] in [0, 1]^7; probe e in [0, 1]^3; x has shape (3,).
    """

    num_agents = 3
    action_dim = None
    theta_dim = 7
    probe_dim = 3

    variant: Literal["classic", "printed"] = eqx.field(static=True, default="classic")
    probe_reading: Literal["shared", "station", "own"] = eqx.field(static=True, default="shared")
    scale: float = 100.0
    d1: float = 3.0
    cap: float = 100.0
    delta: Array = eqx.field(default_factory=lambda: jnp.asarray(DEFAULT_DELTA))

    def __check_init__(self):
        if not isinstance(self.scale, jax.core.Tracer) and not float(self.scale) > 0:
            raise ValueError(f"`scale` must be > 0 (it divides the probe values); got {self.scale}.")
        check_number("RiverPollution", "d1", self.d1)
        check_number("RiverPollution", "cap", self.cap, lower=0.0, strict=True)
        check_shape("RiverPollution", "delta", self.delta, (3, 2))
        if self.variant not in ("classic", "printed"):
            raise ValueError(f"`variant` must be 'classic' or 'printed'; got {self.variant!r}.")
        if self.probe_reading not in ("shared", "station", "own"):
            raise ValueError(
                f"`probe_reading` must be 'shared', 'station' or 'own'; got {self.probe_reading!r}."
            )

    @property
    def kkt_affine(self) -> bool:
        """The classic game's KKT system is affine (quadratic profits, linear constraints)."""
        return self.variant == "classic"

    @property
    def theta_bounds(self):
        return jnp.zeros(7), jnp.ones(7)

    @property
    def probe_bounds(self):
        return jnp.zeros(3), jnp.ones(3)

    def utilities(self, theta, x):
        d2, c1, c2 = theta[0], theta[1:4], theta[4:7]
        if self.variant == "classic":
            return (self.d1 - d2 * jnp.sum(x) - c1 - c2 * x) * x
        return self.d1 * x - d2 * jnp.sqrt(jnp.sum(x)) - c1 * jnp.sqrt(x) - c2 * x

    def emissions(self, probe, x):
        """Pollution q_l(x; e) at the two stations, shape (2,)."""
        return (jnp.asarray(self.delta, x.dtype) * (probe * x)[:, None]).sum(axis=0)

    def constraints(self, probe, x):
        return self.emissions(probe, x) - self.cap

    def revealed_constraints(self, probe, x):
        if self.probe_reading == "shared":
            g = (jnp.max(self.emissions(probe, x)) - self.cap) / self.scale
            return jnp.full((3,), g)
        if self.probe_reading == "station":
            return (self.emissions(probe, x) - self.cap) / self.scale
        own = jnp.asarray(self.delta, x.dtype) * (probe * x)[:, None] - self.cap / 3
        return jnp.max(own, axis=1) / self.scale
