"""``sluicegate agent`` and ``sluicegate api`` start without what only other commands need."""

import subprocess
import sys

# What the agent and the API imported at start before they ran without typer: typer, rich (drawn
# in by structlog's console renderer too), and each other's frameworks.
_CHECK = """
import sys
import sluicegate.cli, sluicegate.worker.agent
agent = {"typer", "rich", "click", "fastapi", "starlette", "uvicorn"} & set(sys.modules)
import sluicegate.api.serving.server
api = {"typer", "rich", "sluicegate.drill"} & set(sys.modules)
print(sorted(agent), sorted(api))
"""


def test_the_agent_and_the_api_import_only_their_own_part():
    result = subprocess.run(
        [sys.executable, "-c", _CHECK], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split("\n")[0] == "[] []", result.stdout
