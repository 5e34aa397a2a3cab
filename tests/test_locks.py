"""What ``make ci`` leaves out relies on the locks: it runs the tests with prepared status
calls off on two lines only (end-to-end on one), because what that option switches (the prepared path,
``airflow_querystatus/prepared.py``) runs on aiobotocore, botocore and aiohttp alone, and every
line pins those alike. When a lock stops doing so, that line needs its own run. The same pins let
CI run the ``line_independent`` tests (the emulator, the status-call engine under faults and the
prepared path) on 2.11 and 3.3 only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.line_independent

LOCKS = sorted((Path(__file__).resolve().parent.parent / "requirements").glob("airflow-*.txt"))
#: The packages under the prepared path: its private reads (aiobotocore), the signer and parser
#: (botocore) and the HTTP session (aiohttp).
PREPARED_PATH = ("aiobotocore", "botocore", "aiohttp")


def pins(lock: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", lock.read_text(), flags=re.MULTILINE)
    return {name.lower(): version for name, version in found if name.lower() in PREPARED_PATH}


def test_every_line_pins_the_prepared_path_alike() -> None:
    assert len(LOCKS) == 5, LOCKS
    by_line = {lock.stem: pins(lock) for lock in LOCKS}
    assert all(set(p) == set(PREPARED_PATH) for p in by_line.values()), by_line
    assert len({tuple(sorted(p.items())) for p in by_line.values()}) == 1, (
        "the locks pin the prepared path differently; run `make test-e2e PREPARED=off` on every "
        f"line whose pins differ in the Makefile's ci target: {by_line}")
