"""What the drill's systems on replicated Redis share (``--cluster``, ``--sentinel``).

The replicas a 202 waits for (``DURABILITY_REPLICAS``), the environment the services get once the
servers' ports are known, the teardown, and the body of a failover fault: the replica is paused
(SIGSTOP) for a moment so it is behind when its primary is SIGKILLed, as a busy or distant replica
is; a replica is promoted; the old primary rejoins as a replica.
"""

import signal
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sluicegate.drill import procs
from sluicegate.drill.checker import StopFacts
from sluicegate.drill.faults import FaultContext, FaultResult
from sluicegate.drill.local import LocalSystem, Tuning
from sluicegate.drill.schedule import PlannedStop
from sluicegate.embedded.server import EmbeddedServer

REPLICA_LAG_S = 0.3  # how far behind the replica is when its primary is killed
READY_TIMEOUT_S = 30.0


class ReplicatedSystem(LocalSystem):
    """``LocalSystem`` whose Redis is several servers with replicas; subclasses say which."""

    replica_words = "a replica's"  # in "a 202 waits for the primary's fsync and <this>"

    def __init__(
        self,
        root: Path,
        tuning: Tuning,
        database_url: str | None = None,
        keep: bool = False,
        replicas: int = 0,
    ) -> None:
        super().__init__(root, tuning, database_url, keep)
        self.make_redis(root)
        self.replicas = replicas
        also = f" and {self.replica_words}" if replicas else ""
        self.notes = (
            f"durability: waitaof, DURABILITY_REPLICAS={replicas} (a 202 waits for the "
            f"primary's fsync{also})",
        )

    @property
    @abstractmethod
    def redis_shape(self) -> str:
        """The servers, for the report's shape."""

    @abstractmethod
    def make_redis(self, root: Path) -> None:
        """The servers, made (not started) with their data under ``root``."""

    @abstractmethod
    def start_redis(self) -> Mapping[str, str]:
        """Start the servers; the environment that points the services at them."""

    @abstractmethod
    def kill_redis(self) -> None: ...

    @property
    def shape(self) -> dict[str, Any]:
        return super().shape | {
            "redis": self.redis_shape,
            "durability": f"waitaof, DURABILITY_REPLICAS={self.replicas} "
            f"(WAITAOF 1 {self.replicas})",
        }

    def start(self) -> None:
        # The services share one environment: set it now that the servers' ports are known.
        self.api.env |= {**self.start_redis(), "DURABILITY_REPLICAS": str(self.replicas)}
        for agent in self.agents:
            agent.env = self.api.env
        self.start_services()

    def teardown(self) -> list[str]:
        killed = self.kill_services()
        self.kill_redis()
        survivors = procs.wait_gone(killed, timeout_s=5.0)
        return [f"process {pid} outlived the drill" for pid in survivors]

    def fail_over(
        self,
        ctx: FaultContext,
        stop: PlannedStop,
        primary: EmbeddedServer,
        replicas: list[EmbeddedServer],
        wait_healthy: Callable[[], None],
        rejoin: Callable[[EmbeddedServer], object],
    ) -> FaultResult:
        """SIGKILL ``primary`` while its ``replicas`` lag; ``wait_healthy`` returns once one is
        promoted and every client can be served; ``rejoin`` brings the old primary back."""
        lagging = [replica.process.pid for replica in replicas if replica.process is not None]
        started = time.monotonic()
        pause(lagging, REPLICA_LAG_S)
        primary.kill()
        resume(lagging)
        wait_healthy()
        failover_s = time.monotonic() - started
        rejoin(primary)
        wait_healthy()
        back = ctx.observer.wait_until(self.api_ready, timeout_s=READY_TIMEOUT_S)
        seen = ctx.inspect()
        notes = () if back else ("the API did not become ready again after the failover",)
        return FaultResult(
            StopFacts(stop.kind, seen.ids, notes=notes),
            seen,
            time.monotonic() - started,
            remark=f"primary :{primary.port} killed, replica promoted in {failover_s:.1f} s",
        )


def pause(pids: list[int], seconds: float) -> None:
    procs.send(pids, signal.SIGSTOP)
    time.sleep(seconds)  # the lag itself: writes go on while the replica stands still


def resume(pids: list[int]) -> None:
    procs.send(pids, signal.SIGCONT)
