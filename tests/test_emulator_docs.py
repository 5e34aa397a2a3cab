"""docs/emulator.rst as a user would follow it: every ``curl`` session runs, in order, against a
fresh emulator and answers what the page shows; the Python tour runs as printed.

In the page's answers a float is a timestamp (any number matches) and a string ending in
``...`` matches any string that starts with what precedes it.
"""

from __future__ import annotations

import json
import re
import runpy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from airflow_querystatus.emulator import EmulatorServer

pytestmark = pytest.mark.line_independent

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGE_URL = "http://127.0.0.1:4599"
_STATUS = re.compile(r"^(.*) (\d{3})$")


def console_sessions(page: str) -> list[tuple[str, list[str]]]:
    """Each ``$ command`` of the page's console blocks with the lines it answers."""
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"\.\. code-block:: console\n\n((?:   .*\n|\n)+)", page):
        for line in block.splitlines():
            text = line[3:]
            if text.startswith("$ "):
                steps.append((text[2:], []))
            elif text.strip() and steps:
                steps[-1][1].append(text)
    return steps


def matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float):
        return isinstance(actual, (int, float))
    if isinstance(expected, str) and expected.endswith("..."):
        return isinstance(actual, str) and actual.startswith(expected[:-3])
    if isinstance(expected, dict):
        return (isinstance(actual, dict) and expected.keys() == actual.keys()
                and all(matches(v, actual[k]) for k, v in expected.items()))
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(expected) == len(actual)
                and all(matches(e, a) for e, a in zip(expected, actual, strict=True)))
    return bool(expected == actual)


def same_line(expected: str, actual: str) -> bool:
    status = ""
    found = _STATUS.match(expected)
    if found and not expected.startswith(" "):
        expected, status = found.groups()
        if not actual.endswith(f" {status}"):
            return False
        actual = actual[: -len(status) - 1]
    try:
        return matches(json.loads(expected), json.loads(actual))
    except ValueError:
        return expected.strip() == actual.strip()


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_every_curl_session_answers_what_the_page_shows() -> None:
    sessions = console_sessions((DOCS / "emulator.rst").read_text())
    assert len(sessions) >= 20
    with EmulatorServer() as server:
        for command, expected in sessions:
            assert command.startswith("curl "), command
            done = subprocess.run(["bash", "-c", command.replace(PAGE_URL, server.url)], capture_output=True,
                                  text=True, timeout=30)
            answer = done.stdout.rstrip("\n").splitlines()
            assert len(answer) == len(expected), (command, answer)
            for want, got in zip(expected, answer, strict=True):
                assert same_line(want, got), f"{command}\n  page: {want}\n  got:  {got}"


def test_the_python_tour_runs(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(DOCS / "examples" / "emulator_tour.py"), run_name="__main__")
    assert "Value 'MEASURMENTS' at 'queryType'" in capsys.readouterr().out
