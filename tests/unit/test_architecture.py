"""The floors of the code (docs/architecture.md): what may import what, and how large a piece
may grow."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
LIBRARY = ROOT / "src" / "cryopick"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
ARGPARSE_DECLARATIONS = {"build_parser"}  # one add_argument call per flag: long, not complex


def _lint_imports() -> str:
    """The ``lint-imports`` next to this Python (the test extra installs it), else on PATH."""
    local = Path(sys.executable).with_name("lint-imports")
    found = str(local) if local.is_file() else shutil.which("lint-imports")
    assert found, "lint-imports not found: install the test extra (pip install -e '.[test]')"
    return found


def test_import_contracts_hold():
    """The import-linter contracts of pyproject.toml: layers and no cycles."""
    out = subprocess.run([_lint_imports(), "--no-cache", "--config",
                          str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def _imports(tree: ast.Module) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


def test_adapters_call_the_workflow_door_only():
    """``scripts/`` (not a package, so outside the contracts) import only the workflow's rule
    functions (and the warm start's hand-over, before them), never the command-line door, and
    stay a few lines each."""
    scripts = sorted((ROOT / "scripts").glob("*.py"))
    assert scripts
    for script in scripts:
        tree = ast.parse(script.read_text(), filename=str(script))
        names = _imports(tree)
        assert "cryopick.workflow.rules" in names, script.name
        for name in names:
            assert name in ("cryopick.workflow.rules", "cryopick.warmstart"), \
                f"{script.name} imports {name}"
        code = [line for line in script.read_text().splitlines()
                if line.strip() and not line.startswith(('"""', "#"))]
        assert len(code) <= 8, f"{script.name}: {len(code)} lines of code"


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [f"{path.relative_to(ROOT)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
            and node.name not in ARGPARSE_DECLARATIONS]


def test_modules_and_functions_stay_small():
    """One concept per module (≤ 400 lines) and functions of at most 60 lines."""
    modules = sorted(LIBRARY.rglob("*.py"))
    assert modules
    too_long = [f"{p.relative_to(ROOT)} ({n} lines)" for p in modules
                if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES]
    assert not too_long, too_long
    long_functions = [entry for p in modules for entry in _long_functions(p)]
    assert not long_functions, long_functions


def test_the_workflow_door_loads_no_stage_it_does_not_run():
    """Importing the rule functions (what every Snakemake job does first) loads neither
    pandas nor SciPy's FFT: each rule imports its own stage, so a short job stays short."""
    code = ("import sys, cryopick.workflow.rules, cryopick.commands; "
            "print([m for m in ('pandas', 'scipy.fft', 'cryopick.picking.template', "
            "'cryopick.classification.job') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stderr
