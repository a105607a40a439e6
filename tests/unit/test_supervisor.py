"""`aftersales up`'s supervisor: a child that exits is restarted, with a backoff that is capped and
starts over after a healthy run. Children are real (short-lived) processes; the clock is ours."""

from __future__ import annotations

import os

from aftersales.processes import HEALTHY_S, RESTART_MAX_S, Supervisor, restart_delay


def test_restart_delay_doubles_and_is_capped() -> None:
    delays = [restart_delay(n) for n in range(1, 10)]
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(delays) == RESTART_MAX_S
    assert delays == sorted(delays)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def exited(supervisor: Supervisor, name: str) -> None:
    process = supervisor.children[name].process
    assert process is not None
    process.wait(timeout=30)


def test_a_child_that_exits_is_restarted_after_a_growing_delay_reset_by_a_healthy_run() -> None:
    clock = Clock()
    said: list[str] = []
    # `aftersales` with no command exits at once with status 2: a child that keeps crashing.
    supervisor = Supervisor(dict(os.environ), {"quick": ()}, say=said.append, clock=clock)
    supervisor.start()
    first_pid = supervisor.pid("quick")
    exited(supervisor, "quick")
    supervisor.poll()
    assert "quick exited with 2" in said[-1]
    assert "restarting in 1.0s" in said[-1]
    clock.now += 0.5
    supervisor.poll()
    assert supervisor.pid("quick") == first_pid  # not yet
    clock.now += 0.5
    supervisor.poll()
    assert supervisor.pid("quick") != first_pid
    assert supervisor.children["quick"].restarts == 1

    exited(supervisor, "quick")
    supervisor.poll()
    assert "restarting in 2.0s" in said[-1]  # a second failure in a row waits longer
    clock.now += 2.0
    supervisor.poll()
    assert supervisor.children["quick"].restarts == 2

    clock.now += HEALTHY_S  # this run counts as healthy: the next delay starts over
    exited(supervisor, "quick")
    supervisor.poll()
    assert "restarting in 1.0s" in said[-1]
    supervisor.stop(timeout_s=5)
