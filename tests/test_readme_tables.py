"""The README's per-operation lists are kept by hand, so this test keeps them honest: every
registered operation must appear in each of them, and nothing may appear that is not
registered. A new spec fails here until the README names it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_querystatus.operators.base import QueryOperator
from airflow_querystatus.sensors.base import QueryStatusSensor
from airflow_querystatus.status import SERVICES, SPECS, StatusSpec
from tests.cases import class_for

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
TABLE_ROWS = [line for line in README.splitlines() if line.startswith("|")]


def api_name(boto3_name: str) -> str:
    return "".join(part.title() for part in boto3_name.split("_"))


def section(title: str) -> str:
    """The README text from the paragraph starting with ``**title.**`` to the next heading."""
    start = README.index(f"**{title}.**")
    return README[start:README.index("\n#", start)]


@pytest.mark.parametrize("spec", SPECS.values(), ids=list(SPECS))
def test_every_operation_is_in_every_per_operation_list(spec: StatusSpec) -> None:
    sensor = class_for(spec, "sensors", QueryStatusSensor).__name__
    operator = class_for(spec, "operators", QueryOperator).__name__
    operations = [row for row in TABLE_ROWS if f"`{api_name(spec.operation)}`" in row]
    assert any(f"`{sensor}`" in row and f"`{operator}`" in row for row in operations), (
        f"README: the operations table has no row for {api_name(spec.operation)} naming {sensor} and {operator}")
    assert any(row.startswith(f"| `{operator}(") for row in TABLE_ROWS), f"README: the operators table lacks {operator}"
    assert f"`{spec.key}`" in section("Metrics"), f"README: the metric keys lack {spec.key}"
    iam_rows = [row.split(" | ") for row in section("IAM").splitlines() if row.startswith("|")]
    # A row per sensor action: Neptune's query languages share theirs, and every operator action.
    (operator_cell,) = [cells[2] for cells in iam_rows
                        if len(cells) == 3 and cells[1] == f"`{spec.iam_action}`"] or [""]
    assert operator_cell, f"README: the IAM table has no row for {spec.title} with the sensor's {spec.iam_action}"
    named = set(re.findall(r"`([a-z-]+:\w+)`", operator_cell))
    assert named == set(spec.operator_iam_actions), (
        f"README: the IAM row of {spec.title} names {sorted(named)} for the operator, whose calls need "
        f"{sorted(spec.operator_iam_actions)} (full IAM action names, StatusSpec.iam_actions_of)")
    modules = next(line for line in README.splitlines() if line.startswith("Modules:"))
    assert SERVICES[spec.service].module in modules, f"README: the modules line lacks {SERVICES[spec.service].module}"


def test_the_lists_name_nothing_that_is_not_registered() -> None:
    keys = {spec.key for spec in SPECS.values()}
    listed = set(re.findall(r"`([a-z0-9_]+)`", section("Metrics").split("is one of", 1)[1]))
    assert listed == keys
    operators = set(re.findall(r"^\| `(\w+Operator)\(", README, re.M))
    assert operators == {class_for(spec, "operators", QueryOperator).__name__ for spec in SPECS.values()}


#: How the README counts the example pipelines ("the six pipelines in `dags/`").
COUNT_WORDS = {word: number for number, word in enumerate(
    ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"), start=2)}


def dags_in_the_folder() -> set[str]:
    """Every DAG id the files in ``dags/`` declare (``DAG("id", ...)`` or ``DAG(dag_id="id")``)."""
    folder = Path(__file__).resolve().parent.parent / "dags"
    return {dag_id for path in folder.glob("*.py")
            for dag_id in re.findall(r"\bDAG\(\s*(?:dag_id=)?[\"'](\w+)[\"']", path.read_text())}


def test_the_readme_counts_and_lists_every_example_pipeline() -> None:
    """``make demo`` runs every DAG the examples declare (scripts/demo.py's ``DAGS``, from
    ``EXAMPLES``): the README says how many there are and lists them all for the local run."""
    from airflow_querystatus.emulator.examples import EXAMPLES

    dags = dags_in_the_folder()
    assert dags == {dag_id for example in EXAMPLES.values() for dag_id in example.dags}, (
        "dags/ and emulator/examples.py (make demo's DAGS) name different DAGs")
    counts = re.findall(r"the (\w+) pipelines in `dags/`", README)
    assert counts and all(COUNT_WORDS.get(word) == len(dags) for word in counts), (
        f"README counts the pipelines as {counts}; dags/ has {len(dags)}")
    local = README.split("## Run an example locally", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(example_\w+)`", local.split("as often as", 1)[1].split("which fails on purpose")[0]))
    assert listed == dags, f"README's local run lists {sorted(listed)}; dags/ has {sorted(dags)}"


def _test_ids(module: object) -> set[str]:
    """The ids pytest gives the tests of a module: ``name`` or ``name[id]`` (one parametrize each)."""
    ids = set()
    for name, function in vars(module).items():
        if not name.startswith("test_") or not callable(function):
            continue
        marks = [mark for mark in getattr(function, "pytestmark", []) if mark.name == "parametrize"]
        assert len(marks) <= 1, f"{name}: the README check reads one parametrize per test"
        if not marks:
            ids.add(name)
            continue
        values = marks[0].args[1]
        given = marks[0].kwargs.get("ids")
        ids.update(f"{name}[{i}]" for i in (given if given is not None else [str(v) for v in values]))
    return ids


def test_the_prepared_settings_table_names_each_test_of_the_settings_module() -> None:
    """Each row of the README's settings table (honoured or steps aside) names tests of
    tests/test_prepared_config.py that exist, and each of that module's tests is in a row."""
    from tests import test_prepared_config

    text = section("Prepared status calls")
    table = text[text.index("| setting / environment variable |"):].split("\n\n", 1)[0]
    rows = table.splitlines()[2:]  # after the header and its separator
    assert len(rows) >= 25, "README: the prepared status calls settings table is missing"
    existing = _test_ids(test_prepared_config)
    named: set[str] = set()
    for row in rows:
        cells = row.strip("|").split(" | ")
        tests = set(re.findall(r"`(test_[\w\[\]-]+)`", cells[-1]))
        assert tests, f"README: the settings row {cells[0]!r} names no test"
        assert cells[1].startswith(("same", "steps aside", "one attempt", "do not apply")), cells
        assert tests <= existing, f"README: {cells[0]!r} names tests that do not exist: {sorted(tests - existing)}"
        named |= tests
    assert existing <= named, f"README: tests of the settings table's module in no row: {sorted(existing - named)}"
