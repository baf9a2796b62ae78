"""The randomized fault search's scenarios: every named overlap gets drawn, steps are sane."""

import random

from sluicegate.drill.scenario import CONDITIONS, INSTANTS, TEMPLATES, Step, draw, resets


def scenarios(count: int, seed: int = 1):
    rng = random.Random(seed)
    return [draw(rng, outage_s=2.0) for _ in range(count)]


def test_every_template_is_drawn_and_the_draw_is_reproducible():
    drawn = scenarios(200)
    assert {scenario.name for scenario in drawn} == set(TEMPLATES)
    assert drawn == scenarios(200)


def test_steps_are_ordered_known_and_timed_sanely():
    for scenario in scenarios(300, seed=2):
        starts = [step.at_s for step in scenario.steps]
        assert starts == sorted(starts)
        for step in scenario.steps:
            assert step.kind in CONDITIONS + INSTANTS
            assert 0 <= step.at_s <= 4.0
            assert step.duration_s == 0 or 1.0 <= step.duration_s <= 3.0
            if step.kind == "net-latency":
                assert 0.05 <= step.latency_s <= 0.5


def test_the_named_overlaps_overlap():
    for scenario in scenarios(300, seed=3):
        steps = {step.kind: step for step in scenario.steps}
        if scenario.name == "redis restart during a db outage":
            outage = steps["db-outage"]
            (restart,) = [s for s in scenario.steps if s.kind.startswith("redis")]
            assert outage.at_s <= restart.at_s <= outage.end_s
        if scenario.name == "API stopped while the agent is down":
            assert steps["agent-down"].at_s <= steps["api-down"].at_s <= steps["agent-down"].end_s
        if scenario.name == "SIGKILL during a drain":
            down = steps["agent-down"]
            assert down.kill_after_s is not None or "consumer-kill" in steps


def test_connections_are_reset_repeatedly_while_a_reset_step_lasts():
    assert resets(Step("net-reset", 1.0, 1.0)) == [1.0, 1.3, 1.6, 1.9]
    assert resets(Step("net-reset", 0.5)) == [0.5]


def test_a_scenario_says_what_it_does():
    step = Step("agent-down", 0.0, 1.5, kill_after_s=0.25)
    assert step.describe() == "agent-down (SIGKILL 0.25s into the drain) 0.0-1.5s"
    assert Step("redis-kill", 0.7).describe() == "redis-kill @0.7s"
