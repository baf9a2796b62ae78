"""A local Delta table's commit made durable before its batch is acknowledged.

delta-rs writes a local table's Parquet files and its commit (``_delta_log/<version>.json``)
without fsync (its object store's local backend): a process crash loses nothing, the kernel has
the data, but a power loss could take a commit whose batch Redis has already deleted. So after
each commit to a folder on this host, the commit's data files, the commit file and their folders
are fsynced before ``persist`` returns (SQLite's ``synchronous=FULL``, for a lake). Object stores
(``s3://``, ``gs://``, ``az://``) hold what a PUT they answered wrote.
"""

import os
from pathlib import Path
from urllib.parse import unquote

import orjson

LOG = "_delta_log"


def sync_commit(root: Path, version: int) -> None:
    """fsync what commit ``version`` of the table at ``root`` added, then the commit itself."""
    commit = root / LOG / f"{version:020d}.json"
    added = [root / unquote(path) for path in _added_paths(commit)]
    for path in added:
        _fsync(path)
    for folder in {path.parent for path in added}:
        _fsync(folder)
    _fsync(commit)
    _fsync(commit.parent)


def _added_paths(commit: Path) -> list[str]:
    actions = (orjson.loads(line) for line in commit.read_bytes().splitlines() if line.strip())
    return [action["add"]["path"] for action in actions if "add" in action]


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
