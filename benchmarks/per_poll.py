"""CPU of one status poll, call by call: the plain client call against a prepared poll.

    .venvs/airflow-3.3/bin/python benchmarks/per_poll.py              # every operation, 2,000 polls each
    .venvs/airflow-3.3/bin/python benchmarks/per_poll.py --polls 5000 --operations get_calculation_execution_status

For each operation in the registry, one query is planted in the emulator (in this process,
plain HTTP on 127.0.0.1, its own threads) and held in a pending state. One client is built the
way triggers build theirs. Then, one call at a time:

* ``plain``: ``client.<operation>(**params)``, botocore's whole per-call pipeline;
* ``prepared``: a :class:`~airflow_querystatus.prepared.StatusCall` after its first (plain) poll.

Both are measured with ``time.thread_time()`` of the calling thread, so the emulator's CPU is
not counted, after a warm-up of 100 calls; the two alternate in blocks of 100 so that drift on
a shared machine falls on both. The figure is CPU microseconds per call (median of the blocks).
The emulator verifies every signature.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="querystatus-per-poll-"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__QUERYSTATUS__PREPARED_STATUS_CALLS"] = "True"

from airflow_querystatus.clients import ClientKey, create_client_through_hook
from airflow_querystatus.emulator import EmulatorServer
from airflow_querystatus.emulator.catalogue import emulated_specs
from airflow_querystatus.emulator.examples import EXAMPLES
from airflow_querystatus.prepared import StatusCall
from airflow_querystatus.status import SPECS, StatusSpec

KEY, SECRET = "per-poll-key", "per-poll-secret"
BLOCK = 100


def connection(url: str) -> str:
    return json.dumps({"conn_type": "aws", "login": KEY, "password": SECRET,
                       "extra": {"region_name": "us-east-1", "endpoint_url": url}})


async def cpu_per_call(call: Callable[[], Awaitable[Any]], times: int) -> float:
    """CPU microseconds per call of ``times`` sequential calls, this thread only."""
    start = time.thread_time()
    for _ in range(times):
        await call()
    return (time.thread_time() - start) / times * 1e6


async def measure(server: EmulatorServer, spec: StatusSpec, polls: int) -> dict[str, Any]:
    scope = EXAMPLES[spec.key].scope
    pending = sorted(spec.pending_states)[0]
    query = server.emulator.add_query(spec.key, dict(scope), steps=[{"state": pending}])
    identifiers = {**scope, spec.identifiers[-1].name: query.query_id}
    params = spec.api_params(spec.validate(identifiers, owner="per_poll"))
    client, close = await create_client_through_hook(
        ClientKey.build(spec.service, aws_conn_id="aws_default", region_name=None,
                        botocore_config={"retries": {"total_max_attempts": 1}}))
    try:
        status_call = StatusCall(spec.operation, params, keep_template=lambda exc: True)

        async def plain() -> Any:
            return await getattr(client, spec.operation)(**params)

        async def prepared() -> Any:
            return await status_call(client)

        for _ in range(BLOCK):  # warm-up; the first prepared() is the plain poll that makes the template
            await plain()
            await prepared()
        plain_blocks, prepared_blocks = [], []
        for _ in range(max(1, polls // BLOCK)):
            plain_blocks.append(await cpu_per_call(plain, BLOCK))
            prepared_blocks.append(await cpu_per_call(prepared, BLOCK))
        if status_call.plain_polls != 1:
            raise RuntimeError(f"{spec.key}: {status_call.plain_polls} plain polls in the prepared run (expected 1)")
    finally:
        await close()
    plain_us, prepared_us = statistics.median(plain_blocks), statistics.median(prepared_blocks)
    return {"operation": spec.key, "plain_us": round(plain_us), "prepared_us": round(prepared_us),
            "ratio": round(prepared_us / plain_us, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--polls", type=int, default=2000, help="measured polls per path and operation")
    parser.add_argument("--operations", nargs="+", help="operation names (default: every emulated one)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    specs = [spec for spec in emulated_specs() if (not args.operations or spec.operation in args.operations)]
    if not specs:
        parser.error(f"no such operation; known: {', '.join(spec.operation for spec in SPECS.values())}")
    with EmulatorServer() as server:
        server.emulator.credentials.register(KEY, SECRET)
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = connection(server.url)
        rows = [asyncio.run(measure(server, spec, args.polls)) for spec in specs]
    print(f"\nCPU microseconds per status call (median of blocks of {BLOCK}; calling thread only):")
    print(f"{'operation':<62} {'plain us':>9} {'prepared us':>12} {'ratio':>6}")
    for row in rows:
        print(f"{row['operation']:<62} {row['plain_us']:>9} {row['prepared_us']:>12} {row['ratio']:>6.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
