"""The README's two commands are the ones CI and the lock tooling agree with."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    """The indented lines at the top of the README: install-and-run, install-and-test."""
    lines = (ROOT / "README.md").read_text().splitlines()
    return [line.strip() for line in lines[:6] if line.startswith("    ")]


def test_ci_runs_the_readme_test_command_exactly():
    _, test_command = readme_commands()
    ci_lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    assert test_command in ci_lines


def test_both_commands_install_the_lock_with_the_uv_that_locked_it():
    lock_script = (ROOT / "requirements/lock.sh").read_text()
    locked_with = re.search(r"^UV_VERSION=(\S+)$", lock_script, re.MULTILINE)
    assert locked_with
    for command, lock in zip(readme_commands(), ["app", "test"], strict=True):
        assert f"pip install uv=={locked_with[1]} " in command
        assert f"-r requirements/{lock}.txt -b requirements/{lock}.txt -e ." in command
