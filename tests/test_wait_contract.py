"""The wait contract: one value built by the task, handed to the trigger, serialized once."""

from __future__ import annotations

import pytest

from airflow_querystatus.sensors.neptune import NeptuneOpenCypherQuerySensor
from airflow_querystatus.status import ATHENA_CALCULATION_EXECUTION, NEPTUNE_OPEN_CYPHER_QUERY
from airflow_querystatus.triggers.athena import AthenaCalculationExecutionTrigger
from airflow_querystatus.triggers.neptune import NeptuneOpenCypherQueryTrigger
from airflow_querystatus.wait import TASK_FIELDS, WaitContract
from tests.harness import rebuild_trigger


def test_to_kwargs_and_from_kwargs_are_inverse() -> None:
    contract = WaitContract(aws_conn_id="c", region_name="eu-west-1", verify=False, botocore_config={"read_timeout": 1},
                            poll_interval=2, max_poll_interval=3, transient_error_budget=4, deadline=1.5e9,
                            stop_on_kill=True, extras={"endpoint_url": "https://db:8182",
                                                       "fail_on_unknown_query_id": True})
    kwargs = contract.to_kwargs()
    assert kwargs["endpoint_url"] == "https://db:8182" and "extras" not in kwargs
    assert WaitContract.from_kwargs(NEPTUNE_OPEN_CYPHER_QUERY, kwargs, owner="t") == contract


def test_extras_take_their_declared_defaults() -> None:
    rebuilt = WaitContract.from_kwargs(NEPTUNE_OPEN_CYPHER_QUERY, {}, owner="t")
    assert rebuilt.extras == {"endpoint_url": None, "fail_on_unknown_query_id": False}
    assert WaitContract.from_kwargs(ATHENA_CALCULATION_EXECUTION, {}, owner="t").extras == {}


def test_unknown_kwargs_are_named_but_legacy_defaults_load() -> None:
    with pytest.raises(TypeError, match=r"t: unexpected argument.*poll_intervall"):
        WaitContract.from_kwargs(ATHENA_CALCULATION_EXECUTION, {"poll_intervall": 1}, owner="t")
    # Every trigger of 0.1.0 accepted these; their defaults still load anywhere.
    legacy = {"endpoint_url": None, "fail_on_unknown_query_id": False}
    assert WaitContract.from_kwargs(ATHENA_CALCULATION_EXECUTION, legacy, owner="t").extras == {}
    with pytest.raises(TypeError, match="endpoint_url"):
        WaitContract.from_kwargs(ATHENA_CALCULATION_EXECUTION, {"endpoint_url": "https://x"}, owner="t")


def test_the_task_builds_the_contract_the_trigger_carries() -> None:
    sensor = NeptuneOpenCypherQuerySensor(task_id="t", query_id="q", endpoint_url="https://db:8182",
                                          fail_on_unknown_query_id=True, poll_interval=2, max_poll_interval=9,
                                          deferrable=True)
    contract = sensor.wait_contract(deadline=2e9)
    trigger = rebuild_trigger(NeptuneOpenCypherQueryTrigger(query_id="q", wait=contract))
    assert isinstance(trigger, NeptuneOpenCypherQueryTrigger)
    assert trigger.wait == contract and trigger.identifiers == {"query_id": "q"}
    assert {name: getattr(contract, name) for name in TASK_FIELDS} == {
        "poll_interval": 2, "max_poll_interval": 9, "transient_error_budget": 900.0}


def test_a_contract_and_kwargs_together_are_refused() -> None:
    with pytest.raises(TypeError, match="either as `wait` or as kwargs"):
        AthenaCalculationExecutionTrigger(calculation_execution_id="c", wait=WaitContract(), poll_interval=1)
