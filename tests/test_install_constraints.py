"""The small constraints files users install with (``requirements/install-<line>.txt``, README
"Install") stay small, explained, and true to what CI tests.

``make check-install`` proves each one in a fresh user environment; these checks are the cheap
ones: a file per line, every pin commented, no pin of Airflow or the amazon provider (the user's
own choice), and every pin satisfied by the line's full lock, so that the versions CI tests are
ones a user of the file can have.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LINES = re.search(r"^LINES := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1).split()  # type: ignore[union-attr]
#: What a user of the line already chose; the small files leave them alone.
USERS_OWN = {"apache-airflow", "apache-airflow-core", "apache-airflow-providers-amazon"}


def pins(line: str) -> dict[Requirement, str]:
    """Each requirement of the line's small file and the comment that says why."""
    found: dict[Requirement, str] = {}
    for text in (ROOT / "requirements" / f"install-{line}.txt").read_text().splitlines():
        requirement, _, why = text.partition("#")
        if requirement.strip():
            found[Requirement(requirement.strip())] = why.strip()
    return found


def locked(line: str) -> dict[str, str]:
    lock = (ROOT / "requirements" / f"airflow-{line}.txt").read_text()
    return {name.lower(): version for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", lock, re.MULTILINE)}


def test_every_line_has_a_small_constraints_file() -> None:
    assert LINES == ["2.11", "3.0", "3.1", "3.2", "3.3"]
    assert sorted(p.name for p in (ROOT / "requirements").glob("install-*.txt")) == sorted(
        f"install-{line}.txt" for line in LINES)


@pytest.mark.parametrize("line", LINES)
def test_each_pin_says_why_and_leaves_the_users_airflow_alone(line: str) -> None:
    for requirement, why in pins(line).items():
        assert len(why) > 40, f"install-{line}.txt: {requirement} needs a comment saying why and what was measured"
        assert requirement.name.lower() not in USERS_OWN, f"install-{line}.txt pins {requirement}: the user's choice"
        assert requirement.specifier, f"install-{line}.txt: {requirement} constrains nothing"


@pytest.mark.parametrize("line", LINES)
def test_the_full_lock_is_within_the_small_constraints(line: str) -> None:
    lock = locked(line)
    for requirement in pins(line):
        version = lock.get(requirement.name.lower())
        assert version is not None, f"install-{line}.txt pins {requirement.name}, which the lock does not hold"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"the {line} lock has {requirement.name}=={version}, outside install-{line}.txt's {requirement}: "
            "CI would test what users of the file cannot have")
