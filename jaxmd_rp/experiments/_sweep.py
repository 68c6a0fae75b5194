r"""Sweeps as a batch axis: C study configurations in one compiled program where they share it.

Each combination of a sweep builds its own design method and objective. Combinations whose
(method, objective) pytrees have the same structure -- the same classes and static fields, array
leaves of the same shapes and dtypes -- and whose per-path inputs have the same shapes differ only
in leaf *values* (gains, observation noise, game parameters held as numbers or arrays, seeds).
Those run as one study: the differing leaves are stacked along a leading axis C (Python numbers
become float64/int64 arrays), the paths of all combinations are concatenated, and each path carries
the index c of its combination; `SweepMethod.step` and `SweepObjective.__call__` select
combination c's leaves (`Stacked.select`) and run the ordinary method and objective. Path k of
combination c keeps its own keys, theta_1 and probes, so its numbers are those of a separate run
of that combination. Combinations that differ in structure (another T, a static field such as
`num_samples` or `perturbation`) form groups of their own and run one after another.
"""

from typing import Any

import equinox as eqx
import jax
import numpy as np

from .._design._base import AbstractDesignMethod
from .._objective import AbstractObjective, AbstractSurrogateObjective


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.number)) and not isinstance(x, (bool, np.bool_))


def _leaf_kind(x):
    if eqx.is_array(x):
        return ("array", tuple(np.shape(x)), np.dtype(x.dtype).str)
    if _is_number(x):
        return ("number",)
    return ("other", type(x))


def signature(tree) -> tuple:
    """What must agree for two pytrees to share a compiled program (values aside)."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple(_leaf_kind(x) for x in leaves)


def _equal(a, b) -> bool:
    if eqx.is_array(a):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(
            a, b, equal_nan=bool(np.issubdtype(a.dtype, np.inexact)))
    try:
        return bool(a == b)
    except Exception:  # an object without a boolean equality cannot be shared
        return False


class Stacked(eqx.Module):
    """C pytrees of one structure: the leaves that differ stacked along a leading axis."""

    tree: Any
    swept: tuple[int, ...] = eqx.field(static=True)

    def select(self, c):
        """Member c (traceable: `c` may be a traced index)."""
        leaves, treedef = jax.tree_util.tree_flatten(self.tree)
        leaves = [x[c] if i in self.swept else x for i, x in enumerate(leaves)]
        return jax.tree_util.tree_unflatten(treedef, leaves)


def stack(trees: list) -> Stacked | None:
    """Stack pytrees of one `signature`; None if some differing leaf cannot be stacked (e.g. two
    unequal non-numeric objects)."""
    flat = [jax.tree_util.tree_flatten(t)[0] for t in trees]
    treedef = jax.tree_util.tree_structure(trees[0])
    leaves, swept = [], []
    for i, column in enumerate(zip(*flat, strict=True)):
        if all(_equal(column[0], x) for x in column[1:]):
            leaves.append(column[0])
            continue
        if eqx.is_array(column[0]):
            leaves.append(np.stack([np.asarray(x) for x in column]))
        elif all(_is_number(x) for x in column):
            kind = np.float64 if any(isinstance(x, (float, np.floating)) for x in column) \
                else np.int64
            leaves.append(np.asarray(column, dtype=kind))
        else:
            return None
        swept.append(i)
    return Stacked(jax.tree_util.tree_unflatten(treedef, leaves), tuple(swept))


class SweepMethod(AbstractDesignMethod):
    """A design method per combination; each path runs the one its `args[0]` index selects."""

    lower: Any
    upper: Any
    methods: Stacked

    def init(self, theta0):
        return self.methods.select(0).init(theta0)

    def step(self, key, state, fn, args=None):
        return self.methods.select(args[0]).step(key, state, fn, args)


class SweepObjective(AbstractObjective):
    """An objective per combination: `fn(theta, (c, args_c), key)` = objective_c(theta, args_c,
    key)."""

    objectives: Stacked

    @property
    def random(self) -> bool:
        return getattr(self.objectives.tree, "random", True)

    def __call__(self, theta, args=None, key=None):
        c, inner = args
        return self.objectives.select(c)(theta, inner, key)


class SweepSurrogateObjective(SweepObjective, AbstractSurrogateObjective):
    """`SweepObjective` of surrogate objectives (for gradient design)."""

    def surrogate(self, theta, args, key, n):
        c, inner = args
        return self.objectives.select(c).surrogate(theta, inner, key, n)


def combine(methods: list, objectives: list):
    """(SweepMethod, SweepObjective) over C combinations, or None if they cannot share a program."""
    m, o = stack(methods), stack(objectives)
    if m is None or o is None:
        return None
    cls = SweepSurrogateObjective if isinstance(objectives[0], AbstractSurrogateObjective) \
        else SweepObjective
    return SweepMethod(methods[0].lower, methods[0].upper, m), cls(o)
