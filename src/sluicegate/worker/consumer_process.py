"""Life of a forked consumer process, from the fork to ``os._exit``.

The rq recipe: a process group of its own (the terminal's Ctrl-C reaches only the agent, which
sequences the shutdown), fresh signal handlers, its own Redis and database connections (never the
parent's sockets), and ``os._exit`` so nothing inherited from the parent runs at exit.
"""

import importlib
import os
import signal
import sys
from dataclasses import replace
from typing import NoReturn

import redis

from sluicegate.errors import ConfigurationError, TransientStoreError
from sluicegate.logs import get_logger
from sluicegate.queue.client import sync_client
from sluicegate.queue.reader import QueueReader, ensure_group
from sluicegate.repository import open_repository
from sluicegate.settings import Settings
from sluicegate.worker.consumer import Consumer
from sluicegate.worker.liveness import process_name
from sluicegate.worker.lock import Lock, LockEntry
from sluicegate.worker.metrics import ConsumerMetrics
from sluicegate.worker.signals import TERMINATING, SignalInbox

DEFAULT_CONSUMER = "sluicegate.worker.consumer:Consumer"
EXIT_OK = 0
EXIT_CRASHED = 1
EXIT_LOCK_BUSY = 3
EXIT_DATABASE_UNAVAILABLE = 4
# Why a consumer left, as the agent tells from its exit status (exit 0: the consumer said why).
_EXIT_REASONS = {
    EXIT_CRASHED: "crashed",
    EXIT_LOCK_BUSY: "lock-busy",
    EXIT_DATABASE_UNAVAILABLE: "database-unavailable",
}


def run_consumer_process(
    settings: Settings,
    redis_url: str,
    entry: LockEntry,
    parent_pid: int,
    consumer_class: type[Consumer] = Consumer,
    metrics_fd: int | None = None,
) -> NoReturn:
    """Entry point right after ``os.fork()`` in the consumer process. Never returns."""
    code = EXIT_CRASHED
    try:
        os.setpgrp()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        inbox = SignalInbox([signal.SIGTERM])
        signal.pthread_sigmask(signal.SIG_UNBLOCK, TERMINATING)
        entry = replace(entry, pid=os.getpid(), process=process_name())
        metrics = ConsumerMetrics(metrics_fd)
        code = consume_queue(settings, redis_url, entry, inbox, parent_pid, consumer_class, metrics)
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
    entry: LockEntry,
    inbox: SignalInbox,
    parent_pid: int | None,
    consumer_class: type[Consumer] = Consumer,
    metrics: ConsumerMetrics | None = None,
) -> int:
    """Take the queue's lock, consume, release the lock. Also runs without a fork (tests, bench)."""
    log = get_logger(queue=entry.queue, pid=os.getpid())
    client = sync_client(redis_url, cluster=settings.redis_cluster)
    lock = Lock(client, entry, settings.queue_agent_worker_ttl_s)
    try:
        if not lock.acquire():
            log.info("consumer-lock-busy")
            return EXIT_LOCK_BUSY
        try:
            return _consume_holding_the_lock(
                settings, client, lock, inbox, parent_pid, consumer_class, metrics
            )
        finally:
            log.info("consumer-stopped", lock_released=_release_quietly(lock))
    finally:
        client.close()


def _consume_holding_the_lock(
    settings: Settings,
    client: "redis.Redis",
    lock: Lock,
    inbox: SignalInbox,
    parent_pid: int | None,
    consumer_class: type[Consumer],
    metrics: ConsumerMetrics | None,
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
        consumer = consumer_class(settings, reader, repository, lock, inbox, parent_pid, metrics)
        consumer.run()
    finally:
        repository.close()
    return EXIT_OK


def _release_quietly(lock: Lock) -> bool:
    try:
        return lock.release()
    except Exception:
        return False


def exit_reason(exit_code: int) -> str | None:
    """The reason label of a consumer's exit; None when it reported the reason itself."""
    if exit_code < 0:
        return "killed"
    if exit_code == EXIT_OK:
        return None
    return _EXIT_REASONS.get(exit_code, "crashed")


def load_consumer_class(path: str) -> type[Consumer]:
    """``module:Class`` naming a Consumer subclass (rq's ``--worker-class``): tests inject a
    deliberately broken one this way, so production code carries no test switch."""
    module_name, _, class_name = path.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ConfigurationError(f"CONSUMER_CLASS={path!r} cannot be imported: {error}") from error
    if not (isinstance(found, type) and issubclass(found, Consumer)):
        raise ConfigurationError(f"CONSUMER_CLASS={path!r} is not a subclass of {DEFAULT_CONSUMER}")
    return found
