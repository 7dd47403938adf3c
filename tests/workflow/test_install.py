"""`pip install .[workflow]` alone is enough for the documented commands, `--report` included."""

from __future__ import annotations

import shutil
import subprocess
import venv

import pytest

from test_workflow_project import REPO, TARGETS, make_project

pytestmark = [pytest.mark.workflow, pytest.mark.install]


def test_the_workflow_extra_alone_runs_a_tiny_project_and_builds_its_report(tmp_path):
    """Installs the package with only its `workflow` extra into a fresh venv (pip may use its
    wheel cache) and runs the README's commands with that venv's snakemake."""
    # from a copy of the source tree: building a wheel writes build/ next to pyproject.toml
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "demo", "bench", ".snakemake", "*.egg-info", "__pycache__",
        ".pytest_cache"))
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    pip = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                          "--disable-pip-version-check", f"{source}[workflow]"],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stderr[-3000:]
    # nothing leaks in from the test environment: the venv has neither pytest nor the source tree
    probe = subprocess.run([str(python), "-c", "import cryopick, importlib.util as u; "
                            "print(cryopick.__file__, u.find_spec('pytest') is None)"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert str(env) in probe.stdout and probe.stdout.split()[-1] == "True", probe.stdout
    root = make_project(tmp_path / "project")
    base = [str(python), "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
            str(root), "--configfile", str(root / "config.yaml")]
    run = subprocess.run([*base, "--cores", "2", *TARGETS], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = subprocess.run([*base, "--report", "report.html", *TARGETS], capture_output=True,
                            text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "mic001_autopick.png" in (root / "report.html").read_text(errors="replace")

