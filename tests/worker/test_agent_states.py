"""The agent's state machine as pure logic: which signal moves it where."""

import signal

from sluicegate.worker.agent import Agent, AgentState


def make_agent(settings) -> Agent:
    return Agent(settings, settings.redis_url)


def test_starts_running_and_ignores_sigchld(settings):
    agent = make_agent(settings)
    agent._observe([signal.SIGCHLD, signal.SIGCHLD])
    assert agent.state is AgentState.RUNNING
    assert not agent.forced


def test_first_stop_signal_drains_second_forces(settings):
    for first, second in [(signal.SIGTERM, signal.SIGINT), (signal.SIGINT, signal.SIGTERM)]:
        agent = make_agent(settings)
        agent._observe([first])
        assert (agent.state, agent.forced) == (AgentState.DRAINING, False)
        agent._observe([signal.SIGCHLD, second])
        assert (agent.state, agent.forced) == (AgentState.DRAINING, True)


def test_two_signals_in_one_read_drain_and_force(settings):
    agent = make_agent(settings)
    agent._observe([signal.SIGTERM, signal.SIGTERM])
    assert (agent.state, agent.forced) == (AgentState.DRAINING, True)
