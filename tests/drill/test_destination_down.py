"""destination-down's means: a Delta folder no process can write into (root included), then
writable again; and its lag judgement, on the drill's own observer."""

import os

import pytest

from sluicegate.drill.destination_down import folder_unwritable


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
