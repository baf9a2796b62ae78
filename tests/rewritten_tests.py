"""The test modules with their asserts rewritten, written once by the controller for every worker.

pytest rewrites the asserts of each test module as it imports it, and caches the result in
``__pycache__`` unless PYTHONDONTWRITEBYTECODE is set, as it is on the machines this project runs
on. Then each of the four xdist workers, which all collect the whole suite, rewrote all ~150
modules again: 3-4 s of CPU each (``--collect-only`` with and without ``--assert=plain``). The
controller writes them once, in pytest's own format (a pyc checked against the source's hash, so
an edited module is rewritten again, never run stale); the workers only read them.
"""

from pathlib import Path

import pytest


def write_rewritten_tests(config: pytest.Config, root: Path) -> None:
    """Rewrite and cache every test module and conftest under ``root`` whose cache is stale."""
    try:  # pytest's internals: without them the workers simply rewrite for themselves
        from _pytest.assertion import AssertionState
        from _pytest.assertion.rewrite import (
            PYC_TAIL,
            _read_pyc,
            _rewrite_test,
            _write_pyc,
            assertstate_key,
            get_cache_dir,
        )
    except ImportError:
        return
    if config.getoption("assertmode") != "rewrite":
        return
    state: AssertionState = config.stash[assertstate_key]
    for path in sorted([*root.rglob("test_*.py"), *root.rglob("conftest.py")]):
        pyc = get_cache_dir(path) / (path.name[:-3] + PYC_TAIL)
        if _read_pyc(path, pyc) is not None:
            continue
        pyc.parent.mkdir(exist_ok=True)
        source_hash, code = _rewrite_test(path, config)
        _write_pyc(state, code, source_hash, pyc)
