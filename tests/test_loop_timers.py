"""The shared loop timers the engine sleeps and cuts calls off with (airflow_querystatus.loop_timers)."""

from __future__ import annotations

import asyncio

import pytest

from airflow_querystatus.loop_timers import CUTOFF_RESOLUTION, cutoffs, shared_wake_ups

pytestmark = pytest.mark.line_independent

GRID = 0.05


def test_sleepers_on_one_instant_share_a_timer_and_a_cancelled_one_leaves_the_others_asleep() -> None:
    async def check() -> None:
        loop = asyncio.get_running_loop()
        wake_ups = shared_wake_ups(GRID)
        index = int(loop.time() / GRID) + 4
        timers_before = len(loop._scheduled)  # type: ignore[attr-defined]
        first, second, third = (asyncio.ensure_future(_sleep(wake_ups.at(index))) for _ in range(3))
        await asyncio.sleep(0)
        assert len(loop._scheduled) == timers_before + 1  # type: ignore[attr-defined]
        second.cancel()
        woke = await asyncio.gather(first, second, third, return_exceptions=True)
        assert isinstance(woke[1], asyncio.CancelledError)
        assert woke[0] >= index * GRID and woke[2] >= index * GRID

    async def _sleep(future: asyncio.Future[None]) -> float:
        await future
        return asyncio.get_running_loop().time()

    asyncio.run(check())


def test_a_disarmed_cutoff_never_fires_and_a_failing_one_does_not_stop_the_others() -> None:
    async def check() -> None:
        loop = asyncio.get_running_loop()
        errors: list[dict] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        fired: list[str] = []

        def fail() -> None:
            raise RuntimeError("boom")

        shared = cutoffs()
        shared.arm(0.0, fail)
        shared.arm(0.0, lambda: fired.append("due"))
        shared.disarm(shared.arm(0.0, lambda: fired.append("disarmed")))
        shared.arm(60.0, lambda: fired.append("later"))
        await asyncio.sleep(3 * CUTOFF_RESOLUTION)
        assert fired == ["due"]
        assert [str(e["exception"]) for e in errors] == ["boom"]

    asyncio.run(check())
