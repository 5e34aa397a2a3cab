"""The front doors follow from their spec: what each derives, and what a contradiction does."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG

from airflow_querystatus.front_doors import templated_names, trigger_class_for
from airflow_querystatus.sensors.base import QueryStatusSensor
from airflow_querystatus.status import ATHENA_CALCULATION_EXECUTION, SPECS, RegistryError, StatusSpec
from airflow_querystatus.triggers.base import QueryStatusTrigger
from tests.cases import class_for, operator_class, trigger_class

SPEC_LIST = list(SPECS.values())


@pytest.mark.parametrize("spec", SPEC_LIST, ids=lambda s: s.key)
def test_sensor_and_operator_defer_to_the_trigger_and_hook_of_their_spec(spec: StatusSpec) -> None:
    sensor = class_for(spec, "sensors", QueryStatusSensor)
    operator = operator_class(spec)
    for cls in (sensor, operator):
        assert cls.trigger_class is trigger_class(spec) is trigger_class_for(spec)
        assert cls.aws_hook_class.client_type_name == spec.service
    assert set(templated_names(spec)) <= set(sensor.template_fields)
    assert {e.name for e in spec.extras if e.templated} <= set(operator.template_fields)


@pytest.mark.parametrize("spec", SPEC_LIST, ids=lambda s: s.key)
def test_a_triggers_signature_names_its_identifiers(spec: StatusSpec) -> None:
    parameters = inspect.signature(trigger_class(spec)).parameters
    for ident in spec.identifiers:
        assert parameters[ident.name].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("spec", SPEC_LIST, ids=lambda s: s.key)
def test_a_sensor_maps_over_its_query_ids(spec: StatusSpec) -> None:
    """``.partial().expand()`` over the query's own id: Airflow accepts only names that an
    ``__init__`` in the class's chain declares, which the front-door check enforces."""
    sensor = class_for(spec, "sensors", QueryStatusSensor)
    *scope, query = spec.identifiers
    fixed: dict[str, Any] = {ident.name: "scope-1" for ident in scope}
    with DAG(f"map_{spec.key}", schedule=None):
        mapped = sensor.partial(task_id="wait", **fixed).expand(**{query.name: ["a", "b"]})
    assert query.name in mapped.expand_input.value


def test_a_sensor_whose_init_omits_an_identifier_fails_at_import() -> None:
    with pytest.raises(RegistryError, match=r"does not name \['calculation_execution_id'\]"):
        class Wrong(QueryStatusSensor):
            """:param calculation_execution_id: The id."""

            spec = ATHENA_CALCULATION_EXECUTION

            def __init__(self, *, calc_id: str, **kwargs: Any) -> None:
                super().__init__(calculation_execution_id=calc_id, **kwargs)


def test_an_undocumented_identifier_fails_at_import() -> None:
    with pytest.raises(RegistryError, match=r"documents no \['calculation_execution_id'\]"):
        class Undocumented(QueryStatusSensor):
            """Waits."""

            spec = ATHENA_CALCULATION_EXECUTION

            def __init__(self, *, calculation_execution_id: str, **kwargs: Any) -> None:
                super().__init__(calculation_execution_id=calculation_execution_id, **kwargs)


def test_a_second_trigger_for_one_operation_fails_at_import() -> None:
    with pytest.raises(RegistryError, match="is already the trigger of 'athena_calculation_execution'"):
        class Another(QueryStatusTrigger):
            """:param calculation_execution_id: The id."""

            spec = ATHENA_CALCULATION_EXECUTION
