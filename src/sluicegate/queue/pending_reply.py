"""A Redis command sent now and answered later, on a connection of its own.

The consumer sends the read of batch N+1 and the ack of batch N while it persists, so Redis (and
its AOF fsync) works on the other core at the same time as the database transaction, instead of
adding its time to every batch.
"""

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import redis
from redis.exceptions import ResponseError

T = TypeVar("T")


class PendingReply(Generic[T]):
    def __init__(
        self,
        client: "redis.Redis",
        command: list[str | int],
        parse: Callable[[Any], T],
        recover: Callable[[ResponseError], T] | None = None,
    ) -> None:
        """``recover`` turns an error answer it knows into a result; others are raised."""
        self._pool = client.connection_pool
        self._parse = parse
        self._recover = recover
        self._connection = self._pool.get_connection()
        try:
            self._connection.send_command(*command)  # type: ignore[no-untyped-call]
        except BaseException:
            self._drop()
            raise

    def result(self) -> T:
        try:
            reply = self._connection.read_response()
        except ResponseError as error:
            self._pool.release(self._connection)
            if self._recover is None:
                raise
            return self._recover(error)
        except BaseException:
            self._drop()
            raise
        self._pool.release(self._connection)
        return self._parse(reply)

    def abandon(self) -> None:
        """Drop the connection unread; what the command did stays done (reads stay pending)."""
        self._drop()

    def _drop(self) -> None:
        self._connection.disconnect()  # type: ignore[no-untyped-call]
        self._pool.release(self._connection)
