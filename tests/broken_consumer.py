"""A deliberately broken consumer, injected with ``CONSUMER_CLASS`` so a test can prove that
``sluicegate drill`` catches a loss.

The first consumer to reach a batch (the one that creates the marker file named by
``BROKEN_ACK_MARKER``) acknowledges the batch *before* persisting it and then dies: that one batch
is lost, as in the bug this project was born from. Later consumers behave.
"""

import os
from collections.abc import Sequence

from sluicegate.events import Delivery
from sluicegate.worker.visit import Outcome, QueueVisit, Stay

MARKER_VARIABLE = "BROKEN_ACK_MARKER"
CLASS_PATH = "tests.broken_consumer:AckBeforePersistConsumer"
EXIT_CODE = 86


class AckBeforePersistConsumer(QueueVisit):
    def process(self, batch: Sequence[Delivery]) -> None:
        try:
            os.close(os.open(os.environ[MARKER_VARIABLE], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:  # the bug already struck once
            super().process(batch)
            return
        self.reader.ack(batch, len(batch), 0)
        os._exit(EXIT_CODE)


DIES_AT_START = "tests.broken_consumer:DiesAtStartConsumer"


class DiesAtStartConsumer(QueueVisit):
    """Dies before its first batch, every time: issue 9's SQLite file under a regular file."""

    def run(self, stay: Stay) -> Outcome:
        raise FileExistsError(17, "File exists", "/srv/afile")
