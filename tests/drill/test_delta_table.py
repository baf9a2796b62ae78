"""The drill's own Delta reader against tables delta-rs wrote: appends, an OPTIMIZE (adds and
removes), a checkpoint, commits after it; a duplicate row shows twice; no table yet is no rows."""

from arro3.core import Array, DataType, Table
from deltalake import DeltaTable, write_deltalake

from sluicegate.drill.delta_table import read_rows, snapshot


def rows(ids: list[str], day: str, queue: str = "q") -> Table:
    return Table.from_pydict(
        {
            "queue": Array([queue] * len(ids), DataType.string()),
            "event_id": Array(ids, DataType.string()),
            "day": Array([day] * len(ids), DataType.string()),
        }
    )


def append(uri: str, table: Table) -> None:
    write_deltalake(uri, table, mode="append", partition_by=["day"])


def test_the_log_replayed_by_hand_gives_the_live_rows(tmp_path):
    uri = (tmp_path / "lake").as_uri()
    assert snapshot(uri) is None
    assert read_rows(uri, ["event_id"]) == (None, [])
    for n in range(3):
        ids = [f"e{n}-{i}" for i in range(5)]
        append(uri, rows(ids, f"2024-01-0{n % 2 + 1}"))
    table = DeltaTable(uri)
    table.optimize.compact()  # removes the small files, adds one per day
    table.create_checkpoint()
    append(uri, rows(["e3-0", "e0-0"], "2024-01-02", "p"))
    seen, found = read_rows(uri, ["queue", "event_id", "day"])
    assert seen is not None
    assert seen.version == DeltaTable(uri).version() == 4
    assert seen.partition_columns == ("day",)
    assert len(seen.files) == 3  # two compacted, one appended after the checkpoint
    assert len(found) == 17
    assert ("p", "e0-0", "2024-01-02") in found
    assert found.count(("q", "e0-0", "2024-01-01")) == 1
    ids = [event_id for _, event_id, _ in found]
    assert len(ids) - len(set(ids)) == 1  # e0-0 twice: in q and in p
