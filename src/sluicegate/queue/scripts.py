"""The Lua scripts, read once from the package's ``lua/`` folder.

Each ``.lua`` file starts with a header listing its KEYS and ARGV and the stream-entry or stats
fields it reads or writes (``-- writes entry fields: id payload``); tests/queue/test_scripts.py
checks those names against ``keys`` so the Python side and the scripts cannot drift apart.

A line ``--!include NAME`` is replaced by ``lua/lib/NAME.lua``: Lua functions that several
scripts share (``trim``: the trimming rule of a stream read by several destinations).

A script the consumers need to drain a full Redis starts with ``#!lua flags=allow-oom`` (it frees
memory or writes a small key: a lock, a counter); one that grows memory (``enqueue``, the replay
of a dead letter) does not, and is refused while Redis is above its ``maxmemory``.
"""

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

ENQUEUE = "enqueue"
ACK = "ack"
REPLAY_DEAD_LETTER = "replay_dead_letter"
LOCK_HEARTBEAT = "lock_heartbeat"
LOCK_RELEASE = "lock_release"
LOCK_ACQUIRE = "lock_acquire"
FORGET_CONSUMER = "forget_consumer"
DEAD_LETTER = "dead_letter"
COUNT_RECLAIMED = "count_reclaimed"
RATE_LIMIT = "rate_limit"
ENSURE_GROUPS = "ensure_groups"
LANES = "lanes"
FORGET_GROUP = "forget_group"


@dataclass(frozen=True, slots=True)
class LuaScript:
    name: str
    source: str
    sha: str  # the SHA1 that EVALSHA names the script by: hashed once, not per call


_INCLUDE = "--!include "


@cache
def lua(name: str) -> LuaScript:
    source = _included(_read(f"{name}.lua"))
    return LuaScript(name, source, hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest())


def _read(path: str) -> str:
    return resources.files(__package__).joinpath("lua", path).read_text("utf-8")


def _included(source: str) -> str:
    """``source`` with each ``--!include NAME`` line replaced by ``lib/NAME.lua``."""
    return "".join(
        _read(f"lib/{line.removeprefix(_INCLUDE).strip()}.lua")
        if line.startswith(_INCLUDE)
        else line
        for line in source.splitlines(keepends=True)
    )
