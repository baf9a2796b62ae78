"""ruff and mypy --strict are part of the test suite, so the one test command covers them."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_ruff_lint_is_clean():
    result = run("ruff", "check", "src", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = run("ruff", "format", "--check", "src", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean():
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_bench_imports():
    """The benches run by hand, not in the suite: importing each one at least catches a name the
    code under them no longer has (bench_partitions once imported a constant that had gone)."""
    script = (
        "import importlib, pkgutil, bench\n"
        "for module in pkgutil.iter_modules(bench.__path__):\n"
        "    importlib.import_module(f'bench.{module.name}')\n"
    )
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:9"}  # bare_endpoint reads it, at import
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
