"""The Lua scripts, read once from the package's ``lua/`` folder.

Each ``.lua`` file starts with a header listing its KEYS and ARGV and the stream-entry or stats
fields it reads or writes (``-- writes entry fields: id payload``); tests/queue/test_scripts.py
checks those names against ``keys`` so the Python side and the scripts cannot drift apart.

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


@dataclass(frozen=True, slots=True)
class LuaScript:
    name: str
    source: str
    sha: str  # the SHA1 that EVALSHA names the script by: hashed once, not per call


@cache
def lua(name: str) -> LuaScript:
    source = resources.files(__package__).joinpath("lua", f"{name}.lua").read_text("utf-8")
    return LuaScript(name, source, hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest())
