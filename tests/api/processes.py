"""The API as a process (``python -m sluicegate.api``), for process-level tests."""

from pathlib import Path

from tests.processes import CommandProcess
from tests.waiting import wait_for


class ApiProcess(CommandProcess):
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        super().__init__("", env, log_path, module="sluicegate.api")

    def port(self) -> int:
        """The port it bound (PORT=0 picks a free one), from its ``api-listening`` log line."""
        wait_for(
            lambda: self.first("api-listening") or self.process.poll() is not None,
            message="the api-listening log line",
        )
        listening = self.first("api-listening")
        assert listening is not None, f"the API exited early: {self.logs()}"
        return int(listening["port"])
