"""The registry: every declaration matches botocore's model, mistakes fail at import, all is derived."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

import airflow_querystatus
from airflow_querystatus.emulator.catalogue import CATALOGUE, build_catalogue
from airflow_querystatus.emulator.examples import Example, build_examples
from airflow_querystatus.hooks import hook_class_for
from airflow_querystatus.operators.base import QueryOperator
from airflow_querystatus.status import SERVICES, SPECS, RegistryError, StatusSpec, build_registry
from tests.cases import CASES, class_for, operator_class, trigger_class

SPEC_LIST = list(SPECS.values())


def _operation(spec: StatusSpec, name: str):
    model = botocore.session.get_session().get_service_model(spec.service)
    by_snake = {xform_name(op): op for op in model.operation_names}
    assert name in by_snake, f"{spec.key}: {spec.service} has no operation {name!r}"
    return model.operation_model(by_snake[name])


def _walk(shape: Any, path: tuple[str, ...]) -> Any:
    """The shape at ``path`` below ``shape`` (a map's values under any key); None once the path
    enters a ``Document``, which the model leaves unshaped."""
    for key in path:
        if shape.metadata.get("document"):
            return None
        shape = shape.value if shape.type_name == "map" else shape.members[key]
    return None if shape.metadata.get("document") else shape


@pytest.mark.parametrize("spec", SPEC_LIST, ids=lambda s: s.key)
def test_every_operation_and_member_exists_in_the_service_model(spec: StatusSpec) -> None:
    status = _operation(spec, spec.operation)
    api_names = {ident.api_name for ident in spec.identifiers}
    # The identifiers are status call members, every member the call requires is one (others, such
    # as a page size, are optional), and what the spec leaves out of the answer is in it.
    assert set(status.input_shape.required_members) <= api_names <= set(status.input_shape.members), spec.key
    assert spec.omitted_members <= set(status.output_shape.members), spec.key
    assert set(spec.status_call_inputs) <= set(status.input_shape.members) - api_names, spec.key
    if spec.started_id:
        assert _walk(_operation(spec, str(spec.start_operation)).output_shape, spec.started_id) is not None
    for name in (spec.stop_operation, spec.start_operation, spec.results_operation, spec.list_operation):
        if name is not None:
            _operation(spec, name)
    if spec.stop_operation is not None:
        assert api_names <= set(_operation(spec, spec.stop_operation).input_shape.members)


@pytest.mark.parametrize("spec", [s for s in SPEC_LIST if hasattr(s.read_state, "path")], ids=lambda s: s.key)
def test_the_specs_states_cover_the_models_status_enum(spec: StatusSpec) -> None:
    shape = _walk(_operation(spec, spec.operation).output_shape, spec.read_state.path)  # type: ignore[attr-defined]
    known = spec.success_states | spec.failure_states | spec.pending_states
    if shape is None:  # the state lives in a Document: the spec declares the states AWS documents
        assert spec.documented_states == known, f"{spec.key}: {known ^ spec.documented_states}"
    else:
        assert shape.enum and set(shape.enum) <= known, f"{spec.key}: {set(shape.enum) - known} not covered"


@pytest.mark.parametrize("spec", SPEC_LIST, ids=lambda s: s.key)
def test_every_operation_has_its_hook_sensor_trigger_operator_and_case(spec: StatusSpec) -> None:
    assert hook_class_for(spec.service).client_type_name == spec.service
    for kind in ("sensors", "triggers"):
        assert class_for(spec, kind, object).spec is spec
    assert trigger_class(spec).spec is spec and issubclass(operator_class(spec), QueryOperator)
    assert any(case.sensor_cls.spec is spec for case in CASES)


def test_provider_info_lists_every_services_modules() -> None:
    info = airflow_querystatus.get_provider_info()
    for kind in ("hooks", "sensors", "triggers", "operators"):
        modules = {m for group in info[kind] for m in group["python-modules"]}
        assert modules == {f"airflow_querystatus.{kind}.{s.module}" for s in SERVICES.values()}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"service": "nosuch"}, "service 'nosuch' is not declared in SERVICES"),
        ({"operation": "GetQueryStatus"}, "`operation` must be the boto3 (snake_case) method name"),
        ({"identifiers": ()}, "`identifiers` is empty"),
        ({"success_states": frozenset()}, "`success_states` is empty"),
        ({"failure_states": frozenset({"SUCCEEDED"})}, "both success and failure"),
        ({"documented_states": frozenset({"LOST"})}, "documented states ['LOST'] are neither"),
        ({"omitted_members": frozenset({"Status"})}, "`omitted_members` must be a set of member names other"),
        ({"omitted_members": "Rows"}, "`omitted_members` must be a set of member names other"),
    ],
)
def test_a_wrong_declaration_fails_naming_the_spec_and_the_mistake(change: dict, complaint: str) -> None:
    wrong = dataclasses.replace(SPECS["internet_monitor_query"], **change)
    with pytest.raises(RegistryError, match="StatusSpec 'internet_monitor_query': ") as err:
        build_registry((wrong,), SERVICES)
    assert complaint in str(err.value)


def test_duplicate_keys_are_refused() -> None:
    spec = SPECS["internet_monitor_query"]
    with pytest.raises(RegistryError, match="declared twice"):
        build_registry((spec, spec), SERVICES)


@pytest.mark.parametrize(
    ("entries", "complaint"),
    [
        (lambda spec, plays: [(spec, dataclasses.replace(plays, failure_state="SUCCEEDED"))],
         "`Emulated.failure_state` must name the failure state"),
        (lambda spec, plays: [(spec, dataclasses.replace(plays, steps=()))], "`Emulated.steps` is empty"),
        (lambda spec, plays: [(dataclasses.replace(spec, title="other"), plays)], "is not the spec the registry"),
        (lambda spec, plays: [(spec, plays), (SPECS["athena_calculation_execution"],
                                              dataclasses.replace(plays, aliases=("internet_monitor",)))],
         "emulator kind 'internet_monitor' is already used by 'internet_monitor_query'"),
    ],
)
def test_a_wrong_catalogue_entry_fails_naming_the_spec_and_the_mistake(entries: Any, complaint: str) -> None:
    """How the emulator plays an operation is kept by the emulator, checked against the spec."""
    spec = SPECS["internet_monitor_query"]
    with pytest.raises(RegistryError, match=r"StatusSpec '\w+': ") as err:
        build_catalogue(entries(spec, CATALOGUE[spec.key]))
    assert complaint in str(err.value)


def test_a_wrong_example_fails_naming_the_spec_and_the_mistake() -> None:
    spec = SPECS["internet_monitor_query"]
    with pytest.raises(RegistryError, match=re.escape("`Example.scope` names ['query_id']")):
        build_examples([(spec, Example({"example_internet_monitor": "success"}, scope={"query_id": "q"}))])
    with pytest.raises(RegistryError, match=re.escape("`Example.plant` has members the emulator does not know")):
        build_examples([(spec, Example({"example_internet_monitor": "success"}, plant={"txt": "typo"}))])


def test_every_call_names_its_iam_actions() -> None:
    """IAM actions are ``service:Action`` with the API's name, except Neptune's query calls,
    whose actions are per purpose (REFERENCE.md §4: GetQueryStatus for status and list,
    CancelQuery, and Read/Write/DeleteDataViaQuery for execution)."""
    neptune = SPECS["neptune_open_cypher_query"]
    assert neptune.iam_actions_of("list_open_cypher_queries") == ("neptune-db:GetQueryStatus",)
    assert neptune.iam_actions_of("cancel_open_cypher_query") == ("neptune-db:CancelQuery",)
    assert neptune.iam_actions_of("execute_open_cypher_query") == (
        "neptune-db:ReadDataViaQuery", "neptune-db:WriteDataViaQuery", "neptune-db:DeleteDataViaQuery")
    assert SPECS["neptune_loader_job"].operator_iam_actions == ("neptune-db:StartLoaderJob",
                                                                "neptune-db:CancelLoaderJob")
    logs = SPECS["logs_insights_query"]
    assert (logs.iam_action, logs.operator_iam_actions) == ("logs:GetQueryResults",
                                                            ("logs:StartQuery", "logs:StopQuery"))
    for spec in SPECS.values():
        for call in (spec.operation, spec.start_operation, spec.results_operation, spec.list_operation,
                     spec.stop_operation):
            for action in spec.iam_actions_of(call) if call else ():
                assert re.fullmatch(r"[a-z-]+:[A-Z][A-Za-z]+", action), (spec.key, call, action)
                assert action.split(":")[0] == spec.iam_action.split(":")[0], (spec.key, call, action)
