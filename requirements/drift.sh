#!/usr/bin/env bash
# Would a fresh install from pyproject.toml's ranges pass today? Run before bumping the lock.
#   bash requirements/drift.sh [pytest arguments...]
# Installs the newest versions the ranges allow into a fresh venv (no lock), prints every package
# whose version differs from requirements/test.txt, then runs the suite in that venv. CI keeps
# testing the lock, so an upstream release that breaks sluicegate shows up here, not on main.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet -e '.[test]'
"$work/venv/bin/pip" freeze --all --exclude-editable >"$work/newest.txt"
python3 - requirements/test.txt "$work/newest.txt" <<'PY'
"""The packages whose newest allowed version is not the locked one."""
import re
import sys


def pins(path: str) -> tuple[dict[str, str], set[str]]:
    """name -> version, and the names pinned only under an environment marker."""
    found, conditional = {}, set()
    for line in open(path, encoding="utf-8"):
        match = re.match(r"([A-Za-z0-9_.-]+)==([^\s;\\]+)(\s*;)?", line)
        if match:
            name = re.sub(r"[-_.]+", "-", match[1]).lower()
            found[name] = match[2]
            if match[3]:
                conditional.add(name)
    return found, conditional


(locked, conditional), (newest, _) = pins(sys.argv[1]), pins(sys.argv[2])
for name in conditional - newest.keys():  # its marker does not hold here (another OS or Python)
    del locked[name]
ignored = {"pip", "setuptools"}  # the venv's own tools (this build ran isolated, with the newest)
moved = sorted(
    name for name in (locked.keys() | newest.keys()) - ignored if locked.get(name) != newest.get(name)
)
print(f"{'package':32} {'locked':14} newest allowed")
for name in moved:
    print(f"{name:32} {locked.get(name, '-'):14} {newest.get(name, '-')}")
print(f"{len(moved)} of {len(locked)} locked packages differ" if moved else "the lock is current")
PY
"$work/venv/bin/pytest" "$@"
