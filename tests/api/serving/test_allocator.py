"""glibc's thresholds set for the API process (here: the test worker's own, which is harmless)."""

import sys

import pytest

from sluicegate.api.serving import allocator


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_large_freed_blocks_stay_in_the_process() -> None:
    assert allocator.keep_freed_memory()
