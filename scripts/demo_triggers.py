"""Interim demo: every trigger against the local emulator, with its outcome.

Starts the emulator on 127.0.0.1, plants one query per operation (the Athena one fails on
purpose), and runs the five triggers concurrently in one event loop, as a triggerer would.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="querystatus-demo-"))

from airflow_querystatus.emulator import EmulatorServer
from airflow_querystatus.triggers.athena import AthenaCalculationExecutionTrigger
from airflow_querystatus.triggers.internet_monitor import InternetMonitorQueryTrigger
from airflow_querystatus.triggers.neptune import NeptuneOpenCypherQueryTrigger
from airflow_querystatus.triggers.network_flow_monitor import (
    NetworkFlowMonitorTopContributorsQueryTrigger,
    NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryTrigger,
)


async def first_event(trigger):  # type: ignore[no-untyped-def]
    async for event in trigger.run():
        return event.payload


def main() -> None:
    with EmulatorServer() as server:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
            {"conn_type": "aws", "login": "demo", "password": "demo-secret",
             "extra": {"region_name": "us-east-1", "endpoint_url": server.url}}
        )
        emu = server.emulator
        steps = [("QUEUED", 1), ("RUNNING", 2), "SUCCEEDED"]
        fast = {"poll_interval": 0.5, "max_poll_interval": 2.0, "deadline": time.time() + 60}
        triggers = [
            InternetMonitorQueryTrigger(monitor_name="web", query_id=emu.add_query(
                "internet_monitor", {"monitor_name": "web"}, steps=steps).query_id, **fast),
            NetworkFlowMonitorTopContributorsQueryTrigger(monitor_name="vpc", query_id=emu.add_query(
                "network_flow_monitor_top_contributors", {"monitor_name": "vpc"}, steps=steps).query_id, **fast),
            NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryTrigger(
                scope_id="scope-1",
                query_id=emu.add_query(
                    "network_flow_monitor_workload_insights_data", {"scope_id": "scope-1"}, steps=steps
                ).query_id,
                **fast,
            ),
            NeptuneOpenCypherQueryTrigger(query_id=emu.add_query(
                "neptune_open_cypher", steps=[("RUNNING", 3), "FINISHED"], text="MATCH (n) RETURN n").query_id, **fast),
            AthenaCalculationExecutionTrigger(calculation_execution_id=emu.add_query(
                "athena_calculation", steps=[("RUNNING", 2), {"state": "FAILED",
                "reason": "NameError: name 'spark_df' is not defined"}]).query_id, **fast),
        ]

        async def run_all() -> list:
            return await asyncio.gather(*(first_event(t) for t in triggers))

        started = time.time()
        payloads = asyncio.run(run_all())
        print(f"\n{'trigger':<70} {'status':<8} {'state':<10}")
        for trigger, payload in zip(triggers, payloads, strict=True):
            print(f"{type(trigger).__name__:<70} {payload['status']:<8} {payload['state']:<10}")
            if payload["status"] != "success":
                print(f"    {payload['message']}")
        print(f"\nall five waited concurrently in {time.time() - started:.1f}s")


if __name__ == "__main__":
    main()
