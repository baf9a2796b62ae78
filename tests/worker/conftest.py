"""Fixtures of the worker tests: the agent as a real process."""

import pytest

from tests.processes import CommandProcess, is_alive


@pytest.fixture
def start_agent(subprocess_env, tmp_path):
    started: list[CommandProcess] = []

    def start(module: str = "sluicegate", **extra_env: str) -> CommandProcess:
        """``sluicegate agent``, or a test's own entry point ``module`` that runs the agent."""
        command = "agent" if module == "sluicegate" else ""
        env = {**subprocess_env, **extra_env}
        agent = CommandProcess(command, env, tmp_path / f"agent-{len(started)}.log", module=module)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.close()
    for agent in started:
        assert not any(is_alive(pid) for pid in agent.consumer_pids()), (
            "a consumer outlived the test"
        )
