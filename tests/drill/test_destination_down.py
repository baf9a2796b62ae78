"""destination-down's means: a Delta folder no process can write into (root included), then
writable again; and its lag judgement, on the drill's own observer."""

import os

import pytest

from sluicegate.drill.destination_down import folder_unwritable, held_back


@pytest.mark.parametrize("chattr", [True, False])
def test_a_folder_refuses_every_write_while_down_and_takes_them_after(
    tmp_path, monkeypatch, chattr
):
    folder = tmp_path / "lake"
    (folder / "_delta_log").mkdir(parents=True)
    if not chattr:  # as where chattr cannot: the folder moved aside, a file in its place
        monkeypatch.setattr("sluicegate.drill.destination_down.shutil.which", lambda _: None)
    with folder_unwritable(folder):
        for path in (folder / "part.parquet", folder / "_delta_log" / "00000000000000000000.json"):
            with pytest.raises(OSError, match=r"Operation not permitted|Not a directory"):
                path.write_text("x")
        with pytest.raises(OSError, match=r"Operation not permitted|Not a directory"):
            (folder / "day=2024-01-01").mkdir()
    (folder / "_delta_log" / "00000000000000000000.json").write_text("x")
    assert sorted(os.listdir(folder / "_delta_log")) == ["00000000000000000000.json"]
    assert not (tmp_path / "lake.down").exists()


def test_a_destination_whose_lag_grows_through_the_outage_was_held_back():
    before = {"sql": 4.4, "delta": 0.3}
    behind_the_load = {"sql": 6.0, "delta": 5.4}  # sql moved on (+1.6 s); delta stood still
    assert held_back("delta", ["sql"], before, behind_the_load, seconds=5.0) == []
    assert held_back("sql", ["delta"], before, behind_the_load, seconds=5.0) == [
        "destination delta was held back while sql was down: its lag grew from 0.3 s to "
        "5.4 s in an outage of 5.0 s"
    ]
