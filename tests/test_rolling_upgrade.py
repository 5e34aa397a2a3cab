"""Trigger kwargs written by an older release load and run in this one (rolling upgrades).

During an upgrade a triggerer running the new package picks up triggers that a task running
the old package serialized into the trigger table. tests/data/trigger_kwargs_0.1.0.json holds
what 0.1.0's ``serialize()`` wrote, one per operation.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness import first_event

#: Every test here runs triggers, whose status polls [querystatus] prepared_status_calls changes.
pytestmark = pytest.mark.prepared_sensitive

WRITTEN = json.loads((Path(__file__).parent / "data" / "trigger_kwargs_0.1.0.json").read_text())["triggers"]
#: The emulator's name for each trigger's query family, and what a finished one looks like.
KINDS = {
    "InternetMonitorQueryTrigger": ("internet_monitor", "SUCCEEDED"),
    "NetworkFlowMonitorTopContributorsQueryTrigger": ("network_flow_monitor_top_contributors", "SUCCEEDED"),
    "NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryTrigger": (
        "network_flow_monitor_workload_insights_data", "SUCCEEDED"),
    "NeptuneOpenCypherQueryTrigger": ("neptune_open_cypher", "FINISHED"),
    "AthenaCalculationExecutionTrigger": ("athena_calculation", "COMPLETED"),
}


@pytest.mark.parametrize("written", WRITTEN, ids=[w["classpath"].rsplit(".", 1)[1] for w in WRITTEN])
def test_kwargs_from_0_1_0_load_and_run(emulator, written: dict[str, Any]) -> None:
    module, _, name = written["classpath"].rpartition(".")
    kind, done = KINDS[name]
    kwargs = dict(written["kwargs"])
    scope = {k: v for k, v in kwargs.items() if k in ("monitor_name", "scope_id")}
    query = emulator.add_query(kind, scope, steps=[("RUNNING", 1), done])
    id_arg = next(k for k, v in kwargs.items() if v == "QUERY_ID")
    kwargs[id_arg] = query.query_id
    trigger = getattr(importlib.import_module(module), name)(**kwargs)
    event = asyncio.run(first_event(trigger, timeout=30))
    assert event.payload["status"] == "success", event.payload
    # What the old release asked for still holds.
    assert trigger.serialize()[1]["stop_on_kill"] == written["kwargs"]["stop_on_kill"]
    assert trigger.serialize()[1]["deadline"] == written["kwargs"]["deadline"]
