"""The documentation site's generated pages match the registry and the classes.

Runs docs/generate.py into a temporary directory (no Sphinx build): every operation in the
registry has a page, and every argument a page names is really accepted by its class (the
class is constructed with it; an unknown argument raises TypeError).
"""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import inspect
import json
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from airflow_querystatus.compat import AirflowException, conf
from airflow_querystatus.status import SERVICES, SPECS, StatusSpec

ROOT = Path(__file__).resolve().parent.parent
_SECTION = re.compile(r"^(Sensor|Trigger|Operator): (\w+)\n-+$", re.M)
_ARG_ROW = re.compile(r"^   \* - ``(\w+)``$", re.M)


def _generator() -> ModuleType:
    if "docs_generate" not in sys.modules:
        sys.path.insert(0, str(ROOT / "docs"))  # where generate.py finds its sibling returns.py, as in Sphinx
        spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["docs_generate"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["docs_generate"]


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("docs")
    _generator().generate(out)
    return {path.stem: path.read_text() for path in out.glob("*.rst")}


def documented_arguments(page: str) -> dict[tuple[str, str], list[str]]:
    """(kind, class name) -> the argument names in that class's table on the page."""
    sections = list(_SECTION.finditer(page))
    found = {}
    for i, match in enumerate(sections):
        end = sections[i + 1].start() if i + 1 < len(sections) else page.index("Errors you can meet")
        found[(match[1], match[2])] = _ARG_ROW.findall(page[match.end():end])
    return found


def _required(cls: type) -> dict[str, Any]:
    """Values for the constructor arguments without a default, up to Airflow's bases."""
    values: dict[str, Any] = {}
    for klass in cls.__mro__:
        if klass.__name__ in {"BaseOperator", "BaseTrigger", "object"}:
            break
        if "__init__" not in klass.__dict__:
            continue
        for param in inspect.signature(klass.__init__).parameters.values():
            if param.name != "self" and param.default is param.empty and param.kind is param.KEYWORD_ONLY:
                values.setdefault(param.name, "x")
    return values


def _construct(kind: str, cls: type, spec: StatusSpec, **extra: Any) -> Any:
    kwargs: dict[str, Any] = {} if kind == "Trigger" else {"task_id": "docs_check"}
    if kind != "Operator":
        kwargs.update({ident.name: "abc" for ident in spec.identifiers})
    kwargs.update(_required(cls))
    kwargs.update(extra)
    return cls(**kwargs)


def test_every_operation_has_a_page(pages: dict[str, str]) -> None:
    gen = _generator()
    for spec in SPECS.values():
        name = gen.page_name(spec)
        assert name in pages, f"{spec.key} has no page"
        assert f"   {name}" in pages["operations"], f"{spec.key} is missing from the operations toctree"
        page = pages[name]
        classes = gen.classes_for(spec)
        for cls in (classes.sensor, classes.trigger, classes.operator):
            assert cls.__name__ in page
        for state in spec.pending_states | spec.success_states | spec.failure_states:
            assert f"``{state}``" in page
        assert spec.iam_action in page and str(spec.doc_url) in page
        for include in re.findall(r"literalinclude:: /\.\./(\S+)", page):
            assert (ROOT / include).is_file()
        assert "literalinclude" in page, f"{spec.key}: no example DAG on its page"
    assert len([p for p in pages if p.startswith("operation_")]) == len(SPECS)


#: How a class refuses an argument it does not take: Airflow 2's BaseOperator raises
#: AirflowException ("Invalid arguments were passed"), Airflow 3's and a trigger TypeError.
REFUSED = (TypeError, AirflowException)


@pytest.mark.parametrize("key", list(SPECS))
def test_every_documented_argument_exists_on_its_class(pages: dict[str, str], key: str) -> None:
    spec = SPECS[key]
    page = pages[_generator().page_name(spec)]
    documented = documented_arguments(page)
    assert {kind for kind, _ in documented} == {"Sensor", "Trigger", "Operator"}
    module = SERVICES[spec.service].module
    for (kind, class_name), names in documented.items():
        cls = getattr(importlib.import_module(f"airflow_querystatus.{kind.lower()}s.{module}"), class_name)
        assert cls.__dict__.get("spec") is spec
        base = _construct(kind, cls, spec)
        with pytest.raises(REFUSED):  # the check itself: an unknown argument is refused
            _construct(kind, cls, spec, no_such_argument=1)
        for name in names:
            try:
                _construct(kind, cls, spec, **{name: getattr(base, name, None)})
            except REFUSED as err:
                pytest.fail(f"{key}: the page documents `{name}` for {class_name}, which refuses it: {err}")
        templated = set(getattr(cls, "template_fields", ()) or ())
        for name in templated & set(names):
            assert re.search(rf"``{name}``\n(?:     - .*\n){{2}}     - yes\n", page), f"{class_name}.{name}"
    for required in ("aws_conn_id", "region_name", "verify", "botocore_config", "poll_interval",
                     "max_poll_interval", "transient_error_budget"):
        for kind in ("Sensor", "Trigger", "Operator"):
            (names,) = [n for (k, _), n in documented.items() if k == kind]
            assert required in names, f"{key}: {kind} table lacks {required}"
    (sensor_names,) = [n for (k, _), n in documented.items() if k == "Sensor"]
    (operator_names,) = [n for (k, _), n in documented.items() if k == "Operator"]
    assert {"deferrable", "timeout", "mode", "soft_fail"} <= set(sensor_names)
    assert {"deferrable", "wait_timeout", "reattach", "max_xcom_bytes", "results_path"} <= set(operator_names)


def test_the_sensor_defaults_the_pages_state() -> None:
    from airflow_querystatus.sensors.athena import AthenaCalculationExecutionSensor

    effective = set(_generator().SENSOR_EFFECTIVE_DEFAULTS)
    assert effective == {"poke_interval", "exponential_backoff", "max_wait", "timeout"}
    sensor = AthenaCalculationExecutionSensor(task_id="t", calculation_execution_id="abc", poll_interval=7,
                                              max_poll_interval=30)
    assert sensor.poke_interval == 7
    assert sensor.exponential_backoff is True
    assert sensor.max_wait == datetime.timedelta(seconds=30)
    default = AthenaCalculationExecutionSensor(task_id="t", calculation_execution_id="abc")
    assert default.timeout == conf.getfloat("sensors", "default_timeout")


_IAM_ROW = re.compile(r"^   \* - (\w+)\n     - ``(\w+)``\n     - (.*)\n     - (.*)$", re.M)


@pytest.mark.parametrize("key", list(SPECS))
def test_every_page_lists_the_iam_action_of_every_call(pages: dict[str, str], key: str) -> None:
    """The IAM table has a row per call the sensor or operator makes, each naming IAM actions
    (``service:Action``, from ``StatusSpec.iam_actions_of``), not boto3 method names."""
    spec = SPECS[key]
    page = pages[_generator().page_name(spec)]
    iam = page[page.index("\nIAM\n---\n"):page.index("\nSensor: ")]
    rows = {(call, method): (actions, who) for call, method, actions, who in _IAM_ROW.findall(iam)}
    calls = {"status": spec.operation, "start": spec.start_operation, "results": spec.results_operation,
             "list": spec.list_operation, "stop": spec.stop_operation}
    assert set(rows) == {(call, method) for call, method in calls.items() if method}
    for (call, method), (actions, who) in rows.items():
        named = re.findall(r"``([^`]+)``", actions)
        assert named == list(spec.iam_actions_of(method)), (key, method, named)
        assert all(re.fullmatch(r"[a-z-]+:[A-Z][A-Za-z]+", action) for action in named), named
        assert who == ("sensor, trigger, operator" if call == "status" else "operator")
    assert rows[("status", spec.operation)][0] == f"``{spec.iam_action}``"


# -- what the tasks return ---------------------------------------------------------------------
_RETURNS = re.compile(r"^``(\w+)`` (returns|fires)[^\n]*:\n\n\.\. code-block:: json\n\n((?:   .*\n)+)", re.M)
def json_shape(value: Any) -> Any:
    """The members and types of a JSON value, without the values: lists by their first item."""
    if isinstance(value, dict):
        return {key: json_shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [json_shape(value[0])] if value else []
    return type(value).__name__


def shown_returns(page: str) -> dict[str, Any]:
    """The JSON values the page shows, by the class that returns or fires them."""
    return {name: json.loads(textwrap.dedent(block)) for name, _, block in _RETURNS.findall(page)}


@pytest.mark.prepared_sensitive
@pytest.mark.parametrize("key", list(SPECS))
def test_each_page_shows_what_a_run_of_its_tasks_returns(pages: dict[str, str], key: str, emulator) -> None:
    """The page's sensor XCom, operator XCom and trigger event have the members and types that
    runs here return, through the test harness rather than docs/returns.py: the sensor in poke
    mode and deferred (its trigger's event), the operator started with its example's arguments
    and waiting on the worker (docs/returns.py defers it)."""
    from airflow_querystatus.emulator.examples import EXAMPLES
    from tests.cases import Case
    from tests.harness import run_task

    spec = SPECS[key]
    classes = _generator().classes_for(spec)
    shown = shown_returns(pages[_generator().page_name(spec)])
    assert set(shown) == {classes.sensor.__name__, classes.operator.__name__, classes.trigger.__name__}, shown
    case = Case.of(spec)
    poked = run_task(case.sensor(case.plant(emulator, case.success_steps()).query_id, mode="poke"))
    deferred = run_task(case.sensor(case.plant(emulator, case.success_steps()).query_id, deferrable=True))
    assert poked.outcome == deferred.outcome == "success", (poked.error, deferred.error)
    assert json_shape(shown[classes.sensor.__name__]) == json_shape(poked.value) == json_shape(deferred.value)
    assert json_shape(shown[classes.trigger.__name__]) == json_shape(deferred.events[-1])
    start = dict(EXAMPLES[key].start)
    if spec.service == "athena":
        start["session_id"] = "docs-session"
        emulator.sessions["docs-session"] = {"State": "IDLE", "WorkGroup": "primary"}
    for group in EXAMPLES[key].log_groups:
        emulator.create_log_group(group)
    # The query it starts ends only after its first status poll by id: a Neptune operator has
    # found its id by then, however slow the machine.
    emulator.set_default_steps(key, case.success_steps())
    operator = classes.operator(task_id="run", **case.scope, **start, poll_interval=0.05, max_poll_interval=0.1,
                                wait_timeout=30)
    ran = run_task(operator)
    assert ran.outcome == "success", ran.error
    assert json_shape(shown[classes.operator.__name__]) == json_shape(ran.value)


def test_the_readme_names_the_members_each_operator_returns(pages: dict[str, str]) -> None:
    """Where the README's operators table spells an XCom's members (``{"unit", "datapoints"}``),
    they are the top-level members of what the operator returned in the docs' run."""
    readme = (ROOT / "README.md").read_text()
    checked = 0
    for spec in SPECS.values():
        operator = _generator().classes_for(spec).operator.__name__
        (row,) = [line for line in readme.splitlines() if line.startswith(f"| `{operator}(")]
        spelled = re.search(r"`\{((?:\"\w+\"(?:, )?)+)\}`", row.rsplit(" | ", 1)[1])
        if spelled:
            shown = shown_returns(pages[_generator().page_name(spec)])[operator]
            assert set(re.findall(r"\"(\w+)\"", spelled[1])) == set(shown), (operator, row, sorted(shown))
            checked += 1
    assert checked >= 6
