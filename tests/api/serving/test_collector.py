"""The API process's collector settings (applied in this process, then put back)."""

import gc

from sluicegate.api.serving import collector


def test_start_up_objects_are_frozen_and_young_collections_rarer() -> None:
    threshold = gc.get_threshold()
    try:
        collector.settle()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (collector.YOUNG_THRESHOLD, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
