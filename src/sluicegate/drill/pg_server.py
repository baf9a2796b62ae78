"""A private PostgreSQL cluster in a folder: initdb, pg_ctl start/stop, SIGKILL, promote.

The drill (``--db-standby``) and the tests start their own servers, never the machine's: they
stop, kill and promote them. The tools run as the ``postgres`` OS user when we are root
(PostgreSQL refuses to run as root), on a free port, with the socket in the cluster's folder.
"""

import glob
import os
import shutil
import signal
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sluicegate.drill import procs
from sluicegate.errors import DrillError

_TOOL_TIMEOUT_S = 120
# A test instance: no fsync and no wait for the WAL write at commit, quick restarts. Settings
# given to a server win over these (the drill's pair turns synchronous_commit on again).
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def find_binaries() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin, else the folder of a pg_ctl on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def owned_folder(path: Path) -> Path:
    """Make ``path`` for the server's files, owned by ``postgres`` when we are root, and let
    ``postgres`` pass through its parent (a ``mkdtemp`` folder is root's alone, mode 0700)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(path, user="postgres", group="postgres")
        mode = path.parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            path.parent.chmod(mode | stat.S_IXGRP | stat.S_IXOTH)
    return path


@dataclass
class PrivatePostgres:
    """One cluster in ``base_dir``; ``stop``/``start`` make an outage, ``kill`` a lost host."""

    bin_dir: Path
    base_dir: Path
    port: int
    extra_settings: dict[str, str] = field(default_factory=dict)  # e.g. max_connections

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run_tool(self, tool: str, *args: str) -> None:
        """Run one of PostgreSQL's programs; DrillError with what it said if it fails."""
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*prefix, str(self.bin_dir / tool), *args],
            check=False,
            capture_output=True,
            timeout=_TOOL_TIMEOUT_S,
            cwd=self.base_dir,
            text=True,
        )
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise DrillError(f"{tool} exited {done.returncode}: {said[-1] if said else ''}")

    def init(self) -> "PrivatePostgres":
        self.run_tool(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        return self

    def start(self) -> None:
        settings = {"listen_addresses": "127.0.0.1", **FAST_SETTINGS, **self.extra_settings}
        options = f"-p {self.port} -k {self.base_dir}" + "".join(
            f" -c {name}={value}" for name, value in settings.items()
        )
        log = str(self.base_dir / "server.log")
        data = str(self.data_dir)
        self.run_tool("pg_ctl", "start", "-w", "-t", "60", "-D", data, "-l", log, "-o", options)

    def stop(self) -> None:
        """Fast shutdown: open sessions are terminated (the clients see admin_shutdown)."""
        self.run_tool("pg_ctl", "stop", "-w", "-t", "30", "-m", "fast", "-D", str(self.data_dir))

    def promote(self) -> None:
        """A standby becomes a primary (waits until it accepts writes)."""
        self.run_tool("pg_ctl", "promote", "-w", "-t", "60", "-D", str(self.data_dir))

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill(self) -> list[int]:
        """SIGKILL the server and all its processes at once, as the loss of its host would:
        nothing is flushed or sent after this. Returns the pids killed."""
        root = self.postmaster_pid()
        if root is None or not procs.is_alive(root):
            return []
        procs.send([root], signal.SIGSTOP)  # no new backend between listing and killing
        pids = [root, *procs.descendants_of(root)]
        procs.send(pids, signal.SIGKILL)
        procs.wait_gone(pids, timeout_s=10.0)
        # What a clean stop removes; left behind, they keep the next start off the port.
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        for leftover in (f".s.PGSQL.{self.port}", f".s.PGSQL.{self.port}.lock"):
            (self.base_dir / leftover).unlink(missing_ok=True)
        return pids

    def is_running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()
