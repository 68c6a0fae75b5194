"""Equilibria and social optima of concave games with coupled constraints (the KKT layer).

Modules: `_kkt` (the KKT system, assembled once), `_concavity` (the second-order check),
`_newton` (semismooth Newton, the solver base class), `_enumeration` (exact active-set
enumeration), `_nira` (the Nikaido-Isoda relaxation), `_solve` (the driver and
`solve_equilibrium`), `_result` (`EquilibriumSolution`). The social optimum is in `.._welfare`.
"""

from ._enumeration import ActiveSetEnumeration as ActiveSetEnumeration
from ._kkt import MCP as MCP
from ._newton import (
    AbstractEquilibriumSolver as AbstractEquilibriumSolver,
)
from ._newton import (
    SemismoothNewton as SemismoothNewton,
)
from ._nira import NikaidoIsoda as NikaidoIsoda
from ._result import (
    CONCEPTS as CONCEPTS,
)
from ._result import (
    EquilibriumSolution as EquilibriumSolution,
)
from ._result import (
    default_tol as default_tol,
)
from ._solve import solve_equilibrium as solve_equilibrium
from ._solve import solve_kkt as solve_kkt
