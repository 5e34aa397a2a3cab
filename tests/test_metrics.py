"""Polls, throttles, transient errors, outcomes and wait durations reach Airflow's ``Stats``."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from airflow_querystatus import compat
from tests.cases import CASES, DEFERRABLE, mode_kwargs
from tests.harness import run_sensor

ATHENA = next(c for c in CASES if c.kind == "athena_calculation_execution")


class StatsRecorder:
    """Stands in for Airflow's ``Stats`` (whatever backend the deployment configured)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.timings: list[tuple[str, float]] = []
        self.tags: set[tuple[str, str]] = set()

    def incr(self, stat: str, count: int = 1, rate: float = 1, *, tags: dict[str, str] | None = None) -> None:
        self.counts[stat] += count
        self.tags.update((tags or {}).items())

    def timing(self, stat: str, dt: Any, *, tags: dict[str, str] | None = None) -> None:
        self.timings.append((stat, float(dt)))


@pytest.fixture
def stats(monkeypatch: pytest.MonkeyPatch) -> StatsRecorder:
    recorder = StatsRecorder()
    monkeypatch.setattr(compat, "Stats", recorder)
    return recorder


@pytest.mark.parametrize("mode", ["poke", DEFERRABLE])
def test_a_throttled_then_successful_wait_is_counted(emulator, stats: StatsRecorder, mode: str) -> None:
    faults = [{"error": "ThrottlingException", "count": 2}, {"error": "InternalServerException", "count": 1}]
    query = ATHENA.plant(emulator, [("RUNNING", 2), "COMPLETED"], faults=faults)
    run = run_sensor(ATHENA.sensor(query.query_id, **mode_kwargs(mode)))
    assert run.outcome == "success", run.error
    op = "athena_calculation_execution"
    assert stats.counts[f"querystatus.{op}.polls"] == 6  # 3 errors, 2 RUNNING, 1 COMPLETED
    assert stats.counts[f"querystatus.{op}.throttled"] == 2
    assert stats.counts[f"querystatus.{op}.transient_errors"] == 1
    assert stats.counts[f"querystatus.{op}.outcome.success"] == 1
    assert ("operation", op) in stats.tags
    ((name, waited_ms),) = stats.timings
    assert name == f"querystatus.{op}.wait_duration" and waited_ms > 0


@pytest.mark.prepared_sensitive
def test_failures_and_timeouts_are_counted_by_outcome(emulator, stats: StatsRecorder) -> None:
    failed = ATHENA.plant(emulator, ATHENA.failure_steps())
    never = ATHENA.plant(emulator, ["RUNNING"])
    run_sensor(ATHENA.sensor(failed.query_id, deferrable=True))
    run_sensor(ATHENA.sensor(never.query_id, deferrable=True, timeout=0.5))
    op = "athena_calculation_execution"
    assert stats.counts[f"querystatus.{op}.outcome.failure"] == 1
    assert stats.counts[f"querystatus.{op}.outcome.timeout"] == 1
    assert stats.counts[f"querystatus.{op}.outcome.success"] == 0
