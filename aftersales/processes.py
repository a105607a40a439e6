"""The processes `aftersales up` runs (and the benchmark mirrors): one per service, and intake's
relay on its own so that consuming and publishing use both cores; and the supervisor that keeps them
running.

The supervisor restarts a child that exits, whatever its exit status, after a backoff that doubles
with each consecutive failure (`RESTART_MIN_S` … `RESTART_MAX_S`) and starts again from the minimum
once a child has run `HEALTHY_S` seconds. It stops only when asked: every child gets SIGTERM, and
SIGKILL if it has not exited within `STOP_TIMEOUT_S`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

PROCESSES: dict[str, tuple[str, ...]] = {
    "intake": ("run", "intake", "--no-relay"),
    "intake-relay": ("run", "intake", "--relay-only"),
    "dispatch": ("run", "dispatch"),
    "parts": ("run", "parts"),
    "reporting": ("run", "reporting"),
    "api": ("run", "api"),
}

SCALABLE = ("dispatch", "parts", "reporting")
"""The consuming services that run as several instances, each owning some partitions."""


def with_instances(instances: int, count: int, leases: bool = False) -> dict[str, tuple[str, ...]]:
    """`PROCESSES` with `instances` of each scalable service sharing `count` partitions: `dispatch`
    (partition 0's owner, the leader), `dispatch-2`, … each with `--partitions`; with `leases`, each
    with `--partitions auto` (shared/runtime/leases.py)."""
    from shared.runtime.partitions import split_owned

    if instances == 1:
        return dict(PROCESSES)
    specs = ["auto"] * instances if leases else split_owned(count, instances)
    processes: dict[str, tuple[str, ...]] = {}
    for name, argv in PROCESSES.items():
        if name not in SCALABLE:
            processes[name] = argv
            continue
        for i, spec in enumerate(specs):
            processes[name if i == 0 else f"{name}-{i + 1}"] = (*argv, "--partitions", spec)
    return processes


def user_of(process: str) -> str:
    """The NATS user of a process of `with_instances` (`dispatch-2` → `dispatch`)."""
    base, _, number = process.rpartition("-")
    return base if base in SCALABLE and number.isdigit() else process


RESTART_MIN_S = 1.0
RESTART_MAX_S = 30.0
HEALTHY_S = 60.0
STOP_TIMEOUT_S = 15.0
"""Longer than a service's own hard stop (`aftersales.cli.HARD_STOP_S`), so SIGKILL is the exception."""


def restart_delay(consecutive_failures: int) -> float:
    """Seconds to wait before restarting a child that failed `consecutive_failures` (≥ 1) times in a row."""
    return float(min(RESTART_MIN_S * 2 ** max(consecutive_failures - 1, 0), RESTART_MAX_S))


@dataclass
class Child:
    name: str
    argv: tuple[str, ...]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    restarts: int = 0


class Supervisor:
    def __init__(
        self,
        env: Mapping[str, str],
        processes: Mapping[str, tuple[str, ...]] = PROCESSES,
        say: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        child_env: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.env = dict(env)
        self.child_env = {name: dict(extra) for name, extra in (child_env or {}).items()}
        """What one child gets on top of `env` (its own NATS credentials)."""
        self.children = {name: Child(name, argv) for name, argv in processes.items()}
        self.say = say or (lambda line: print(line, file=sys.stderr, flush=True))
        self.clock = clock

    def _spawn(self, child: Child) -> None:
        env = {**self.env, **self.child_env.get(child.name, {})}
        child.process = subprocess.Popen([sys.executable, "-m", "aftersales.cli", *child.argv], env=env)
        child.started_at = self.clock()
        child.restart_at = None

    def start(self) -> None:
        for child in self.children.values():
            self._spawn(child)

    def poll(self) -> None:
        """Notice children that exited, schedule their restart, and restart those that are due."""
        now = self.clock()
        for child in self.children.values():
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self._spawn(child)
                    self.say(f"up: {child.name} restarted (restart {child.restarts}, pid {self.pid(child.name)})")
                continue
            if child.process is None or child.process.poll() is None:
                continue
            ran_s = now - child.started_at
            child.failures = 1 if ran_s >= HEALTHY_S else child.failures + 1
            delay = restart_delay(child.failures)
            child.restart_at = now + delay
            self.say(
                f"up: {child.name} exited with {child.process.returncode} after {ran_s:.1f}s; "
                f"restarting in {delay:.1f}s (failure {child.failures} in a row)"
            )

    def pid(self, name: str) -> int | None:
        process = self.children[name].process
        return None if process is None else process.pid

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        running = [c.process for c in self.children.values() if c.process is not None and c.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = self.clock() + timeout_s
        for process in running:
            try:
                process.wait(timeout=max(deadline - self.clock(), 0.0))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
