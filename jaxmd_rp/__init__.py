"""jaxmd_rp: data-driven automated mechanism design with multi-agent revealed preferences, in JAX.

Unrelated to the molecular-dynamics library `jax_md`.
"""

from . import games as games
from ._equilibrium import (
    AbstractEquilibriumSolver as AbstractEquilibriumSolver,
    ActiveSetEnumeration as ActiveSetEnumeration,
    EquilibriumSolution as EquilibriumSolution,
    NikaidoIsoda as NikaidoIsoda,
    SemismoothNewton as SemismoothNewton,
    solve_equilibrium as solve_equilibrium,
)
from ._game import (
    AbstractBudgetGame as AbstractBudgetGame,
    AbstractClosedFormGame as AbstractClosedFormGame,
    AbstractGame as AbstractGame,
    probe_values as probe_values,
)
from ._solution import (
    RESULTS as RESULTS,
    AbstractSolution as AbstractSolution,
    result_from_name as result_from_name,
)
from ._version import __version__ as __version__
from ._pareto_gap import (
    ParetoCertificate as ParetoCertificate,
    RecoveredUtility as RecoveredUtility,
    bottleneck_closure as bottleneck_closure,
    certificate_violation as certificate_violation,
    garp_f as garp_f,
    mm_garp as mm_garp,
    pareto_gap as pareto_gap,
    pareto_gap_certificate as pareto_gap_certificate,
    pareto_gap_unchecked as pareto_gap_unchecked,
    recover_utilities as recover_utilities,
)
from ._objective import (
    AbstractGapObjective as AbstractGapObjective,
    AbstractObjective as AbstractObjective,
    AbstractSurrogateObjective as AbstractSurrogateObjective,
    sample_probes as sample_probes,
)
from ._observe import Observer as Observer
from ._learning import (
    AbstractLearningDynamics as AbstractLearningDynamics,
    GradientPlay as GradientPlay,
    Hedge as Hedge,
    RegretMatching as RegretMatching,
)
from ._design._base import (
    AbstractDesignInfo as AbstractDesignInfo,
    AbstractDesignMethod as AbstractDesignMethod,
    AbstractDesignState as AbstractDesignState,
)
from ._design._objectives import (
    ParetoGapObjective as ParetoGapObjective,
    SmoothedGapObjective as SmoothedGapObjective,
    pareto_gap_smooth as pareto_gap_smooth,
)
from ._design._blackbox import (
    AbstractBlackBoxMethod as AbstractBlackBoxMethod,
    AbstractQuery as AbstractQuery,
)
from ._design._spsa import (
    SPSA as SPSA,
    SPSAInfo as SPSAInfo,
    SPSAQuery as SPSAQuery,
    SPSAState as SPSAState,
)
from ._design._gradient import (
    GradientDesign as GradientDesign,
    GradientInfo as GradientInfo,
    GradientState as GradientState,
)
from ._design._driver import (
    DesignTrace as DesignTrace,
    DesignTrace as SPSATrace,
    design_minimise as design_minimise,
    design_minimise as spsa_minimise,
    design_steps as design_steps,
    design_steps as spsa_steps,
    path_keys as path_keys,
)
from ._consumer import budget_values as budget_values, ccei as ccei, garp as garp
from ._concentration import concentration_bound as concentration_bound
from ._indices import houtman_maks_index as houtman_maks_index, varian_index as varian_index
from ._rank import (
    expected_rank as expected_rank,
    homogeneous_utilities as homogeneous_utilities,
    is_rank_optimal as is_rank_optimal,
    maxrank_k as maxrank_k,
    preference_positions as preference_positions,
    rank_k as rank_k,
    rank_optimal_outcomes as rank_optimal_outcomes,
    rank_table as rank_table,
)
from ._robust import (
    ExchangeSolution as ExchangeSolution,
    RobustGap as RobustGap,
    RobustGapObjective as RobustGapObjective,
    Separation as Separation,
    budget_rho as budget_rho,
    certificate_from_orders as certificate_from_orders,
    exchange_method as exchange_method,
    milp_master as milp_master,
    robust_pareto_gap as robust_pareto_gap,
    robust_pareto_gap_game as robust_pareto_gap_game,
    separation_oracle as separation_oracle,
    upper_mask as upper_mask,
)
from ._design._asktell import (
    AskTell as AskTell,
    AskTellInfo as AskTellInfo,
    AskTellQuery as AskTellQuery,
    AskTellState as AskTellState,
    ProbeFunctions as ProbeFunctions,
    simulate as simulate,
)
from ._design._asktell_driver import (
    AskTellTrace as AskTellTrace,
    ObserverError as ObserverError,
    SubprocessObserver as SubprocessObserver,
    run_asktell as run_asktell,
)
from ._study._asktell import AskTellRun as AskTellRun
from ._study import (
    CheckpointError as CheckpointError,
    RunDirectoryLocked as RunDirectoryLocked,
    StudyResult as StudyResult,
    device_info as device_info,
    latest_checkpoint_step as latest_checkpoint_step,
    load_checkpoint as load_checkpoint,
    run_study as run_study,
    study_devices as study_devices,
    study_memory as study_memory,
    study_mesh as study_mesh,
    write_run_info as write_run_info,
)
from ._welfare import (
    WelfareReport as WelfareReport,
    social_optimum as social_optimum,
    welfare_report as welfare_report,
)
