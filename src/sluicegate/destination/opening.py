"""A destination's writer, opened in a consumer process (never in the agent before a fork).

Every kind answers the repository protocol (``repository.base.Repository``): one atomic,
idempotent ``persist`` per batch. ``sql`` is the SQL repository over the destination's URL or
DATABASE_URL; ``delta`` a Delta table (``destination/delta.py``, imported only here, so the
agent never loads deltalake and its threads before it forks).
"""

import importlib

from sluicegate.destination.config import Destination
from sluicegate.repository import Repository, open_configured
from sluicegate.settings import Settings


def open_destination(destination: Destination, settings: Settings) -> Repository:
    """The destination's writer; TransientStoreError when its store is not reachable yet."""
    if destination.kind == "delta":
        delta = importlib.import_module("sluicegate.destination.delta")
        writer: Repository = delta.DeltaDestination(destination.options)
        return writer
    return open_configured(settings, destination.url)
