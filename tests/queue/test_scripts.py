"""The Lua scripts and the Python side agree: field names, KEYS and ARGV are declared in each
script's header, and every name a script uses is one that ``keys`` defines."""

import re
from importlib import resources

import pytest

from sluicegate.events import Event
from sluicegate.queue import keys, scripts

ENTRY_FIELDS = {
    keys.FIELD_EVENT_ID,
    keys.FIELD_PAYLOAD,
    keys.FIELD_ACCEPTED_AT,
    keys.FIELD_TRACEPARENT,
    keys.FIELD_REASON,
    keys.FIELD_DELIVERIES,
    keys.FIELD_DEAD_AT,
    keys.FIELD_COUNT,
    keys.FIELD_IDS,
    keys.FIELD_PAYLOADS,
}
STATS_FIELDS = {
    keys.STAT_ACCEPTED,
    keys.STAT_REAPPENDED,
    keys.STAT_PACKED_EXTRA,
    keys.STAT_ENTRIES_DELETED,
    keys.STAT_PERSISTED,
    keys.STAT_DUPLICATES_SUPPRESSED,
    keys.STAT_DEAD_LETTERED,
    keys.STAT_RECLAIMED,
    keys.STAT_QUARANTINED,
}
# Fields of XINFO GROUPS a script reads by name (Redis's, not ours).
GROUP_FIELDS = {"name", "pending", "lag", "consumers"}
EVENT_FIELDS = set(Event("q", "id", "{}", 0, traceparent="00-1-2-01").to_fields())
NAMES = [scripts.ENQUEUE, scripts.ACK, scripts.REPLAY_DEAD_LETTER]
NAMES += [scripts.LOCK_HEARTBEAT, scripts.LOCK_RELEASE, scripts.LOCK_ACQUIRE]
NAMES += [scripts.FORGET_CONSUMER, scripts.DEAD_LETTER, scripts.COUNT_RECLAIMED, scripts.RATE_LIMIT]
NAMES += [scripts.ENSURE_GROUPS, scripts.LANES, scripts.FORGET_GROUP]
# The scripts that may grow memory: refused on a full Redis. Every other one is the consumers'
# way of draining it and must run there (tests/worker/test_full_redis.py drains a full server).
GROWS_MEMORY = {scripts.ENQUEUE, scripts.REPLAY_DEAD_LETTER}


def header(name: str) -> list[str]:
    lines = scripts.lua(name).source.splitlines()
    return [line[3:] for line in lines if line.startswith("-- ")]


def declared_fields(name: str, kind: str, verbs: str = "reads|writes") -> set[str]:
    """Fields named by ``-- reads|writes <kind> fields: a b c`` lines."""
    found: set[str] = set()
    for line in header(name):
        match = re.fullmatch(rf"(?:{verbs}) {kind} fields: (.+)", line)
        if match:
            found |= set(match.group(1).split())
    return found


def code(name: str) -> str:
    lines = scripts.lua(name).source.splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("--"))


@pytest.mark.parametrize("name", NAMES)
def test_only_scripts_that_grow_memory_are_refused_on_a_full_redis(name):
    first = scripts.lua(name).source.splitlines()[0]
    flags = first.removeprefix("#!lua flags=").split(",") if first.startswith("#!lua") else []
    assert ("allow-oom" in flags) == (name not in GROWS_MEMORY)


def test_every_file_in_the_folder_has_a_name_in_python():
    files = resources.files("sluicegate.queue").joinpath("lua").iterdir()
    assert {f.name.removesuffix(".lua") for f in files if f.name.endswith(".lua")} == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_keys_and_argv_used_are_declared_in_the_header(name):
    used = set(re.findall(r"(KEYS|ARGV)\[(\d+)\]", code(name)))
    declared = {
        (match.group(1), match.group(2))
        for line in header(name)
        if (match := re.match(r"(KEYS|ARGV)\[(\d+)", line))
    }
    assert used <= declared, f"{name}.lua uses {sorted(used - declared)} without declaring them"


@pytest.mark.parametrize("name", NAMES)
def test_field_names_are_the_ones_python_defines(name):
    assert declared_fields(name, "entry") <= ENTRY_FIELDS
    assert declared_fields(name, "stats") <= STATS_FIELDS
    assert declared_fields(name, "group") <= GROUP_FIELDS


@pytest.mark.parametrize("name", NAMES)
def test_every_quoted_name_is_a_command_or_a_declared_field(name):
    """Upper-case words are commands; stream ids like '*' and '0' are not names."""
    names = set(re.findall(r"'([a-z_]+)'", code(name)))
    fields = declared_fields(name, "entry") | declared_fields(name, "stats")
    fields |= declared_fields(name, "group")
    assert names <= fields, f"{name}.lua names undeclared fields {sorted(names - fields)}"


def test_the_replay_writes_exactly_the_events_fields():
    assert declared_fields(scripts.REPLAY_DEAD_LETTER, "entry", "writes") == EVENT_FIELDS


def test_the_enqueue_writes_events_and_quarantined_dead_letters_as_the_consumer_does():
    # A quarantined event goes straight to the dead letters, with the fields a consumer writes.
    packed = {keys.FIELD_COUNT, keys.FIELD_IDS, keys.FIELD_PAYLOADS}
    written = declared_fields(scripts.ENQUEUE, "entry")
    assert written - packed == declared_fields(scripts.DEAD_LETTER, "entry") - packed
    assert written >= EVENT_FIELDS


def test_the_ack_counts_into_the_stats_fields_status_reads():
    # lib/counts.lua's, read for the counts in events; the ack counts the entries it deletes
    assert declared_fields(scripts.ACK, "stats", "writes") == {
        keys.STAT_ENTRIES_DELETED,
        keys.STAT_PERSISTED,
        keys.STAT_DUPLICATES_SUPPRESSED,
    }
