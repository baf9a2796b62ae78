"""The board is memory shared across fork: what a consumer writes, its agent reads."""

import os

from sluicegate.worker.board import Board


def test_a_row_written_in_a_child_is_read_by_the_parent():
    board = Board(rows=3)
    pid = os.fork()
    if pid == 0:
        board.hold(1, '{"queue":"q"}')
        os._exit(0)
    os.waitpid(pid, 0)
    assert board.holding(1) == '{"queue":"q"}'
    assert board.holding(0) is None
    board.hold(1, None)
    assert board.holding(1) is None


def test_one_backoff_for_every_process_of_the_agent():
    board = Board(rows=1)
    pid = os.fork()
    if pid == 0:
        board.refused("sql", initial_s=30, maximum_s=30)
        os._exit(0)
    os.waitpid(pid, 0)
    remaining_s = board.backoff_remaining_s("sql")
    assert 14 < remaining_s <= 30  # jittered between half and all of the ceiling
    assert board.refused("sql") <= remaining_s  # not pushed out again
    assert board.backoff_state("sql")[0] == 1
    board.accepted("sql")
    assert board.backoff_remaining_s("sql") == 0
    assert board.backoff_state("sql") == (0, 0.0)


def test_each_destination_backs_off_alone():
    board = Board(rows=2, destinations=("sql", "lake", "archive"))
    board.hold(0, "row zero")  # the rows come after every destination's backoff
    board.refused("lake", initial_s=30, maximum_s=30)
    assert board.backing_off() == {"lake"}
    assert board.backoff_remaining_s("sql") == board.backoff_remaining_s("archive") == 0
    assert board.backoff_state("archive") == (0, 0.0)
    board.accepted("sql")  # another destination's connection says nothing about lake's
    assert board.backing_off() == {"lake"}
    assert board.holding(0) == "row zero"


def test_refusals_in_a_row_grow_the_backoff_to_its_cap():
    board = Board(rows=1)
    delays = []
    for _ in range(8):
        delays.append(board.refused("sql", initial_s=0.001, maximum_s=0.01))
        board._map[:8] = b"\0" * 8  # the wait is over; the count of refusals stays
    assert max(delays) <= 0.01
    assert delays[-1] >= 0.005
