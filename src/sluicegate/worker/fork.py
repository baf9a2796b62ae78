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

from sluicegate import tracing
from sluicegate.destination.config import Destinations, load_destinations
from sluicegate.destination.writers import Writers
from sluicegate.errors import ConfigurationError, ConsumerCrashedError, TransientStoreError
from sluicegate.logs import get_logger
from sluicegate.process import collector
from sluicegate.process.liveness import process_name
from sluicegate.process.signals import TERMINATING, SignalInbox, StopWatch
from sluicegate.queue.client import sync_client
from sluicegate.queue.lock import LockEntry, new_lock_entry
from sluicegate.queue.topology import Topology
from sluicegate.settings import Settings
from sluicegate.worker.consumer_loop import ConsumerLoop, Place
from sluicegate.worker.visit import QueueVisit

DEFAULT_CONSUMER = "sluicegate.worker.visit:QueueVisit"
# Its name before issue 20: a CONSUMER_CLASS set to it keeps meaning the default.
_RENAMED = {"sluicegate.worker.consumer:Consumer": DEFAULT_CONSUMER}
EXIT_OK = 0
EXIT_CRASHED = 1
EXIT_DATABASE_UNAVAILABLE = 4
EXIT_VISIT_CRASHED = 5  # logged and recorded for its queue (queue/crash_record.py)
# Why a consumer left, as the agent tells from its exit status (exit 0: the consumer said why).
_EXIT_REASONS = {
    EXIT_CRASHED: "crashed",
    EXIT_DATABASE_UNAVAILABLE: "database-unavailable",
    EXIT_VISIT_CRASHED: "crashed",
}


def run_consumer_process(
    settings: Settings,
    redis_url: str,
    identity: LockEntry,
    parent_pid: int,
    consumer_class: type[QueueVisit] = QueueVisit,
    place: Place | None = None,
    registry: Destinations | None = None,
) -> NoReturn:
    """Entry point right after ``os.fork()`` in the consumer process. Never returns."""
    code = EXIT_CRASHED
    try:
        os.setpgrp()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        inbox = SignalInbox([signal.SIGTERM])
        signal.pthread_sigmask(signal.SIG_UNBLOCK, TERMINATING)
        identity = replace(identity, pid=os.getpid(), process=process_name())
        stop = StopWatch(inbox, parent_pid)
        collector.settle(collect_first=False)  # the inherited heap: frozen, not collected
        code = serve_queues(
            settings, redis_url, identity, stop, consumer_class, place, registry=registry
        )
    except ConsumerCrashedError:
        code = EXIT_VISIT_CRASHED  # said and recorded where it happened
    except BaseException as error:
        get_logger(pid=os.getpid()).exception("consumer-crashed", error=repr(error))
    finally:
        tracing.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve_queues(
    settings: Settings,
    redis_url: str,
    identity: LockEntry,
    stop: StopWatch,
    consumer_class: type[QueueVisit] = QueueVisit,
    place: Place | None = None,
    queues: list[str] | None = None,
    registry: Destinations | None = None,
) -> int:
    """Serve queues (all, or only ``queues``) until stopped or idle. Also runs without a fork.
    ``registry``: the destinations (the agent's; else read from DESTINATIONS_FILE)."""
    log = get_logger(pid=os.getpid())
    client = sync_client(redis_url, cluster=settings.redis_cluster, topology=Topology.of(settings))
    try:
        try:
            writers = Writers(registry or load_destinations(settings.destinations_file), settings)
        except TransientStoreError as error:  # the agent forks again at its next poll
            log.warning("database-unavailable", error=str(error))
            return EXIT_DATABASE_UNAVAILABLE
        try:
            ConsumerLoop(
                settings,
                client,
                writers,
                stop,
                identity,
                place or Place(),
                consumer_class,
                queues,
            ).run()
        finally:
            writers.close()
        if stop.parent_gone:
            log.warning("consumer-parent-died", parent_pid=stop.parent_pid)
        log.info("consumer-stopped")
        return EXIT_OK
    finally:
        client.close()


def consume_queue(
    settings: Settings,
    redis_url: str,
    queue: str,
    inbox: SignalInbox,
    consumer_class: type[QueueVisit] = QueueVisit,
) -> int:
    """Serve one queue in this process until it is idle for a TTL (tests, bench)."""
    identity = new_lock_entry(queue)
    return serve_queues(
        settings, redis_url, identity, StopWatch(inbox), consumer_class, queues=[queue]
    )


def exit_reason(exit_code: int) -> str | None:
    """The reason label of a consumer's exit; None when it reported the reason itself."""
    if exit_code < 0:
        return "killed"
    if exit_code == EXIT_OK:
        return None
    return _EXIT_REASONS.get(exit_code, "crashed")


def load_consumer_class(path: str) -> type[QueueVisit]:
    """``module:Class`` naming a QueueVisit subclass (rq's ``--worker-class``): tests inject a
    deliberately broken one this way, so production code carries no test switch."""
    module_name, _, class_name = _RENAMED.get(path, path).partition(":")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ConfigurationError(f"CONSUMER_CLASS={path!r} cannot be imported: {error}") from error
    if not (isinstance(found, type) and issubclass(found, QueueVisit)):
        raise ConfigurationError(f"CONSUMER_CLASS={path!r} is not a subclass of {DEFAULT_CONSUMER}")
    return found
