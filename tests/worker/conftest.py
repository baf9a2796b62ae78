"""Fixtures of the worker tests: the agent as a real process."""

import pytest

from tests.processes import CommandProcess, is_alive


@pytest.fixture
def start_agent(subprocess_env, tmp_path):
    started: list[CommandProcess] = []

    def start(**extra_env: str) -> CommandProcess:
        agent = CommandProcess(
            "agent", {**subprocess_env, **extra_env}, tmp_path / f"agent-{len(started)}.log"
        )
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.close()
    for agent in started:
        assert not any(is_alive(pid) for pid in agent.consumer_pids()), (
            "a consumer outlived the test"
        )
