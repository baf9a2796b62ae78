"""Life of a forked consumer process, from the fork to ``os._exit``.

The rq recipe: a process group of its own (the terminal's Ctrl-C reaches only the agent, which
sequences the shutdown), fresh signal handlers, its own Redis and database connections (never the
parent's sockets), and ``os._exit`` so nothing inherited from the parent runs at exit.
"""

import os
import signal
import sys
from dataclasses import replace
from typing import NoReturn

import redis

from sluicegate.consumer import Consumer
from sluicegate.errors import TransientStoreError
from sluicegate.liveness import process_name
from sluicegate.logs import get_logger
from sluicegate.queue_reader import QueueReader, ensure_group
from sluicegate.redis_client import sync_client
from sluicegate.registry import WorkerEntry, WorkerLock
from sluicegate.repository import open_repository
from sluicegate.settings import Settings
from sluicegate.signals import TERMINATING, SignalInbox

EXIT_OK = 0
EXIT_CRASHED = 1
EXIT_LOCK_BUSY = 3
EXIT_DATABASE_UNAVAILABLE = 4


def run_child(settings: Settings, redis_url: str, entry: WorkerEntry, parent_pid: int) -> NoReturn:
    """Entry point right after ``os.fork()`` in the child. Never returns."""
    code = EXIT_CRASHED
    try:
        os.setpgrp()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        inbox = SignalInbox([signal.SIGTERM])
        signal.pthread_sigmask(signal.SIG_UNBLOCK, TERMINATING)
        entry = replace(entry, pid=os.getpid(), process=process_name())
        code = consume_queue(settings, redis_url, entry, inbox, parent_pid)
    except BaseException as error:
        get_logger(queue=entry.queue, pid=os.getpid()).exception(
            "consumer-crashed", error=repr(error)
        )
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def consume_queue(
    settings: Settings,
    redis_url: str,
    entry: WorkerEntry,
    inbox: SignalInbox,
    parent_pid: int | None,
) -> int:
    """Take the queue's lock, consume, release the lock. Also runs without a fork (tests, bench)."""
    log = get_logger(queue=entry.queue, pid=os.getpid())
    client = sync_client(redis_url)
    lock = WorkerLock(client, entry, settings.queue_agent_worker_ttl_s)
    try:
        if not lock.acquire():
            log.info("consumer-lock-busy")
            return EXIT_LOCK_BUSY
        try:
            return _consume_holding_the_lock(settings, client, lock, inbox, parent_pid)
        finally:
            log.info("consumer-stopped", lock_released=_release_quietly(lock))
    finally:
        client.close()


def _consume_holding_the_lock(
    settings: Settings,
    client: "redis.Redis",
    lock: WorkerLock,
    inbox: SignalInbox,
    parent_pid: int | None,
) -> int:
    queue = lock.entry.queue
    try:
        repository = open_repository(settings.resolved_database_url)
    except TransientStoreError as error:  # the agent forks again at its next poll
        get_logger(queue=queue, pid=os.getpid()).warning("database-unavailable", error=str(error))
        return EXIT_DATABASE_UNAVAILABLE
    try:
        ensure_group(client, queue)
        reader = QueueReader(client, queue, consumer=process_name())
        Consumer(settings, reader, repository, lock, inbox, parent_pid).run()
    finally:
        repository.close()
    return EXIT_OK


def _release_quietly(lock: WorkerLock) -> bool:
    try:
        return lock.release()
    except Exception:
        return False
