"""The layout is the architecture: imports only go down the layers, modules and functions stay
small, and nothing imports the command line."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "jaxmd_rp"

# the layers, lowest first: a module may import from its own layer and the ones below
LAYERS = [
    ["_version", "_solution", "_linalg", "_scipy"],
    ["_game", "_game_checks", "games"],
    ["_equilibrium", "_kkt", "_welfare"],
    ["_checks", "_bottleneck", "_pareto_gap", "_consumer", "_indices", "_indices_milp", "_rank",
     "_concentration"],
    ["_observe", "_objective", "_learning"],
    ["_design", "_robust"],
    ["_study"],
    ["experiments"],
    ["report"],
    ["cli"],
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
# optional or heavy dependencies imported where they are used, never to dodge a cycle
LAZY_OK = {"scipy", "matplotlib", "tqdm"}
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
# (module, function) pairs allowed to exceed MAX_FUNCTION_LINES, with the reason
LONG_FUNCTIONS = {
    ("_study/_runner.py", "run_study"): "its docstring is half of it (every argument documented)",
}
# modules still above MAX_MODULE_LINES, with the reason
LONG_MODULES = {}
# violations known today, each test expected to fail (strict: a fixed one must leave this list)
KNOWN = {}


def _modules(kind=None):
    out = []
    for p in sorted(ROOT.rglob("*.py")):
        reason = KNOWN.get((kind, str(p.relative_to(ROOT))))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(p, marks=marks, id=str(p.relative_to(ROOT))))
    return out


def _top(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT).parts
    return rel[0].removesuffix(".py")


def _resolve(path: pathlib.Path, node: ast.ImportFrom) -> str | None:
    """The top-level jaxmd_rp module an import refers to (None: outside the package)."""
    if node.level == 0:
        mod = node.module or ""
        if not mod.startswith("jaxmd_rp"):
            return None
        parts = mod.split(".")[1:]
    else:
        base = list(path.relative_to(ROOT).parent.parts)
        base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
        parts = base + (node.module.split(".") if node.module else [])
    if not parts:  # `from . import x` at the package root
        return node.names[0].name if path.parent == ROOT else None
    return parts[0]


@pytest.mark.parametrize("path", _modules("layers"))
def test_imports_go_down_the_layers(path):
    top = _top(path)
    if top == "__init__":
        return
    assert top in LAYER, f"{top} is in no layer: add it to LAYERS"
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(path, node)
            if target is None or target == "__init__":
                continue
            assert target in LAYER, f"{path.name} imports {target}, which is in no layer"
            assert LAYER[target] <= LAYER[top], (
                f"{path.relative_to(ROOT)} (layer {LAYER[top]}) imports {target} "
                f"(layer {LAYER[target]})")
            assert target != "cli" or top == "cli", f"{path} imports the command line"


@pytest.mark.parametrize("path", _modules("lazy"))
def test_no_function_level_imports_of_the_package(path):
    tree = ast.parse(path.read_text())
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                raise AssertionError(f"{path.name}:{node.lineno} imports jaxmd_rp inside "
                                     f"{fn.name}: import at the top (layers prevent cycles)")
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in LAZY_OK, (
                        f"{path.name}:{node.lineno} imports {alias.name} inside {fn.name}")


@pytest.mark.parametrize("path", _modules("size"))
def test_modules_and_functions_stay_small(path):
    rel = str(path.relative_to(ROOT))
    lines = path.read_text().count("\n")
    if rel not in LONG_MODULES:
        assert lines <= MAX_MODULE_LINES, f"{rel} has {lines} lines (> {MAX_MODULE_LINES})"
    for fn in ast.walk(ast.parse(path.read_text())):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = fn.end_lineno - fn.lineno + 1
            if (rel, fn.name) not in LONG_FUNCTIONS:
                assert n <= MAX_FUNCTION_LINES, f"{rel}:{fn.name} has {n} lines"


def test_importing_the_command_line_starts_no_backend():
    """`--distributed` must call jax.distributed.initialize() before any backend exists: no module
    of jaxmd_rp may create arrays (or ask for devices) at import time."""
    import subprocess
    import sys

    code = ("import jaxmd_rp, jaxmd_rp.cli, jaxmd_rp.report\n"
            "from jax._src import xla_bridge as xb\n"
            "assert not xb.backends_are_initialized(), 'a backend was started on import'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
