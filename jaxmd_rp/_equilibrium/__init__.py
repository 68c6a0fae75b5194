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
    SemismoothNewton as SemismoothNewton,
)
from ._nira import NikaidoIsoda as NikaidoIsoda
from ._result import (
    CONCEPTS as CONCEPTS,
    EquilibriumSolution as EquilibriumSolution,
    default_tol as default_tol,
)
from ._solve import solve_equilibrium as solve_equilibrium, solve_kkt as solve_kkt
