"""The seeded plan: reproducible, spread over the load, every kind covered by mixed."""

import pytest

from sluicegate.drill.schedule import AFTER_LOAD, FAULT_KINDS, plan_stops


def test_the_same_seed_gives_the_same_plan():
    assert plan_stops("mixed", 8, seed=7) == plan_stops("mixed", 8, seed=7)
    assert plan_stops("mixed", 8, seed=7) != plan_stops("mixed", 8, seed=8)


def test_stops_are_numbered_and_ordered_with_the_last_after_the_load():
    planned = plan_stops("term", 4, seed=1)
    assert [stop.number for stop in planned] == [1, 2, 3, 4]
    fractions = [stop.at_fraction for stop in planned]
    assert fractions == sorted(fractions)
    assert fractions[-1] == AFTER_LOAD
    assert all(0.1 <= fraction <= 0.9 for fraction in fractions[:-1])
    assert {stop.kind for stop in planned} == {"term"}


def test_a_single_stop_happens_during_the_load():
    (stop,) = plan_stops("kill", 1, seed=3)
    assert 0.3 <= stop.at_fraction <= 0.7


def test_no_stops_is_an_empty_plan():
    assert plan_stops("term", 0, seed=1) == []


def test_mixed_covers_every_kind_in_as_many_stops():
    planned = plan_stops("mixed", len(FAULT_KINDS), seed=11)
    assert {stop.kind for stop in planned} == set(FAULT_KINDS)


def test_mixed_can_be_restricted_to_some_kinds():
    planned = plan_stops("mixed", 5, seed=2, kinds=("term", "kill"))
    assert {stop.kind for stop in planned} == {"term", "kill"}


def test_redis_restarts_alternate_between_shutdown_and_sigkill():
    planned = plan_stops("redis-restart", 4, seed=5)
    assert [stop.hard for stop in planned] in (
        [True, False, True, False],
        [False, True, False, True],
    )
    assert {stop.label for stop in planned} == {"redis SIGKILL", "redis SHUTDOWN"}


def test_an_unknown_fault_is_refused():
    with pytest.raises(ValueError, match="unknown fault"):
        plan_stops("nuke", 1, seed=1)


def test_the_default_pace_spreads_the_load_over_the_stops():
    from sluicegate.drill.runner import DrillOptions

    assert DrillOptions(events=50_000, stops=4).rate_per_s() == 5_000
    assert DrillOptions(events=20_000, stops=6).rate_per_s() == 20_000 / 15
    assert DrillOptions(events=1_000, stops=0).rate_per_s() == 200  # 5 s at least
    assert DrillOptions(events=1_000, stops=4, rate=0).rate_per_s() == 0


def test_a_random_plan_is_reproducible_from_its_seed():
    first = plan_stops("random", 6, seed=9)
    assert first == plan_stops("random", 6, seed=9)
    assert first != plan_stops("random", 6, seed=10)
    assert all(stop.kind == "random" and stop.scenario is not None for stop in first)
    assert all(stop.label == f"random: {stop.scenario.name}" for stop in first)


def test_random_keeps_the_timing_every_kind_draws_from_the_seed():
    timing = [stop.at_fraction for stop in plan_stops("term", 5, seed=4)]
    assert [stop.at_fraction for stop in plan_stops("random", 5, seed=4)] == timing


def test_the_old_name_of_kill_consumer_still_plans():
    assert {stop.kind for stop in plan_stops("kill-child", 2, seed=1)} == {"kill-consumer"}


def test_mixed_never_draws_random():
    kinds = (*FAULT_KINDS, "random")
    assert "random" not in {stop.kind for stop in plan_stops("mixed", 30, seed=1, kinds=kinds)}


def test_a_soak_spreads_the_load_over_its_duration():
    from sluicegate.drill.runner import DrillOptions

    assert DrillOptions.soak(600, None, None, None) == {
        "events": 600_000,
        "stops": 120,
        "rate": 1_000,
        "duration_s": 600,
    }
    assert DrillOptions.soak(90, 9_000, 3, None)["rate"] == 100
    assert DrillOptions.soak(90, None, None, 50)["events"] == 4_500
    options = DrillOptions(**DrillOptions.soak(90, 9_000, 3, None))
    assert options.rate_per_s() == 100
