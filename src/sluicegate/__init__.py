"""Sluicegate: event ingestion that never loses an event it has accepted."""

__version__ = "0.1.0"
