"""Every exception sluicegate raises on purpose, in one place."""

# A 503 with this detail came after the write was sent: the events may be stored (README "The
# HTTP API"); a client retries with the same ids, and the drill counts them as unknown, not refused.
UNCONFIRMED_WRITE = "the queue store (Redis) did not confirm the write"
# Every problem type of the API (RFC 9457 ``type``) starts with this; the client reads it back.
PROBLEM_TYPE_PREFIX = "urn:sluicegate:problem:"


class SluicegateError(Exception):
    """Base of every sluicegate error."""


class ConfigurationError(SluicegateError):
    """A setting is missing or wrong; the message says which and why."""


class TransientStoreError(SluicegateError):
    """The database is away or busy: back off and keep the batch pending, never dead-letter."""


class DatabaseRefusedError(TransientStoreError):
    """The database refused a connection (too many clients, starting up): every consumer of the
    agent backs off together."""


class RejectedEventError(SluicegateError):
    """The database refuses this event for good (a poison event): it may be dead-lettered."""


class DurabilityError(SluicegateError):
    """Redis did not confirm that a write reached its append-only file."""


class LockLostError(SluicegateError):
    """Our lock expired or was taken: stop consuming this queue."""


class EmbeddedServerError(SluicegateError):
    """The embedded Redis-compatible server could not be started or stopped."""


class DrillError(SluicegateError):
    """``sluicegate drill`` could not run (a process would not start, a wait ran out)."""


class ConsumerCrashedError(SluicegateError):
    """A visit of a queue died with an exception; it is logged and recorded for that queue."""
