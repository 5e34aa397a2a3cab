"""An answer that arrived is never thrown away at its call's cut-off (issue 30).

The engine's cut-off of a status call gives a call whose answer was read whole less than
``ANSWER_GRACE`` seconds before its limit that much longer, once, to parse it; a call whose
answer is older than that (botocore sleeping before a retry) is cut off as before. The answer is
read the way every status answer is, by ``bounds.send_bounded_async`` from a real HTTP server
(the emulator); what comes after it (parsing, ``after-call`` handlers) is a sleep here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from botocore.awsrequest import AWSPreparedRequest

from airflow_querystatus import bounds
from airflow_querystatus.polling import Outcome, StatusTracker, WaitOptions, wait_until_done
from airflow_querystatus.status import ATHENA_CALCULATION_EXECUTION

pytestmark = pytest.mark.line_independent

LIMIT = 3.0


class AnswerThenSlowParse:
    """Reads a real answer at ``read_at`` seconds into the call, then takes ``parse`` seconds."""

    def __init__(self, url: str, *, read_at: float, parse: float) -> None:
        self.url, self.read_at, self.parse = url, read_at, parse
        self.calls = 0

    async def fetch(self) -> Mapping[str, Any]:
        self.calls += 1
        if self.calls > 1:  # later polls answer at once
            return {"Status": {"State": "COMPLETED"}}
        await asyncio.sleep(self.read_at)
        async with aiohttp.ClientSession() as session:
            async def send(request: AWSPreparedRequest) -> Any:
                raw = await session.get(request.url)
                return SimpleNamespace(raw=raw, url=request.url, status_code=raw.status, headers=raw.headers)

            request = AWSPreparedRequest("GET", f"{self.url}/_emulator/stats", {}, b"", True)
            await bounds.send_bounded_async(send, request, bounds.DEFAULT_MAX_ANSWER_BYTES,
                                            "GetCalculationExecutionStatus")
        await asyncio.sleep(self.parse)
        return {"Status": {"State": "COMPLETED"}}

    async def refresh(self) -> None:
        pass


def wait(fetcher: AnswerThenSlowParse) -> tuple[Outcome, int]:
    tracker = StatusTracker(ATHENA_CALCULATION_EXECUTION, {"calculation_execution_id": "c-1"},
                            WaitOptions(poll_interval=0.1, max_poll_interval=0.1), aws_conn_id=None)
    verdict = asyncio.run(wait_until_done(tracker, fetcher, deadline=time.time() + 60, call_timeout=LIMIT))
    return verdict.outcome, tracker.polls


def test_an_answer_read_just_before_the_limit_is_used(emulator_server) -> None:
    fetcher = AnswerThenSlowParse(emulator_server.url, read_at=LIMIT - 1.0 + 0.05, parse=1.2)
    assert wait(fetcher) == (Outcome.SUCCESS, 1)  # the first poll's answer, past its limit


def test_a_call_still_busy_well_after_its_answer_is_cut_off(emulator_server) -> None:
    """The grace is once, and short: what hangs after an answer is still bounded."""
    fetcher = AnswerThenSlowParse(emulator_server.url, read_at=LIMIT - 1.0 + 0.05, parse=30.0)
    assert wait(fetcher) == (Outcome.SUCCESS, 2)  # the first poll was cut off, the second answered
