"""What our waits leave for the garbage collector: objects promoted into its oldest generation
per poll, and what a wait keeps alive between two polls, by type.

    .venvs/airflow-3.3/bin/python benchmarks/poll_garbage.py                 # 300 waits, 1 s apart
    .venvs/airflow-3.3/bin/python benchmarks/poll_garbage.py --waits 1000 --interval 5 --seconds 60

Why: in a real triggerer (``benchmarks/real_triggerer.py``) a full collection walks every
object of the process, and it comes once enough objects were promoted into the oldest
generation (``benchmarks/loop_probe/gc_watch.py``). This measures, in a bare asyncio loop of
this package's ``AthenaCalculationExecutionTrigger`` waits (the emulator in its own process
over plain HTTP, as in the stack, signatures verified):

* **promoted per poll**: objects moved into the oldest generation during ``--seconds`` of
  steady polling, divided by the polls the emulator answered;
* **young collections per poll**;
* **kept between polls**: after a full collection, the objects alive that were not alive one
  interval earlier and a half, per wait, by type: what each wait holds from one poll to the next;
* **cyclic garbage per poll**, by type: objects only the cyclic collector frees. Objects freed
  by reference counting do not advance the collector's allocation count; these do, so they
  are what makes young collections run at all (and each promotes whatever is alive then).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "loop_probe"))
from gc_watch import GcWatch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from process_sweep import run_leaving_nothing

KEYS = "demo-access-key", "demo-secret-key"


def control(url: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"{}")


def start_emulator(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(workdir / "emulator.log", "wb")  # noqa: SIM115 - the child's
    process = subprocess.Popen([sys.executable, "-m", "airflow_querystatus.emulator", "--port", str(port),
                                "--credentials", ":".join(KEYS), "--no-examples"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            control(url, "GET", "/_emulator/stats")
            return process, url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the emulator did not start; see {workdir / 'emulator.log'}")


def polls(url: str) -> int:
    return int(sum(control(url, "GET", "/_emulator/stats")["requests"].values()))


def kept_by_type(before_ids: set[int]) -> collections.Counter[str]:
    gc.collect()
    return collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}"
                               for o in gc.get_objects() if id(o) not in before_ids)


async def measure(args: argparse.Namespace, url: str, ids: list[str]) -> dict[str, Any]:
    from airflow_querystatus.triggers.athena import AthenaCalculationExecutionTrigger

    async def wait(calculation_id: str) -> None:
        trigger = AthenaCalculationExecutionTrigger(calculation_execution_id=calculation_id,
                                                    poll_interval=args.interval, max_poll_interval=args.interval,
                                                    deadline=time.time() + 3600)
        async for _event in trigger.run():
            return

    tasks = []
    for calculation_id in ids:
        tasks.append(asyncio.create_task(wait(calculation_id)))
        await asyncio.sleep(0)
    await asyncio.sleep(3 * args.interval)  # every wait polled and prepared
    gc.collect()
    watch, calls0 = GcWatch(), polls(url)
    await asyncio.sleep(args.seconds)
    watch.stop()
    calls = polls(url) - calls0
    snapshot = watch.snapshot()
    # What a wait holds from one poll to the next: alive now, not alive 1.5 intervals ago.
    gc.collect()
    before = gc.get_objects()  # held, so that no id is reused by a newer object
    before_ids = {id(o) for o in before}
    await asyncio.sleep(1.5 * args.interval)
    kept = kept_by_type(before_ids)
    del before
    # What only the cyclic collector frees (reference cycles): it is what makes the young
    # collections run at all, and each young collection promotes whatever is in flight.
    calls0 = polls(url)
    gc.set_debug(gc.DEBUG_SAVEALL)
    await asyncio.sleep(2 * args.interval)
    gc.collect()
    gc.set_debug(0)
    cycle_calls = max(1, polls(url) - calls0)
    cyclic = collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
    gc.garbage.clear()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "waits": len(ids), "interval_s": args.interval, "polls": calls,
        "promoted_per_poll": round(snapshot["promoted"] / calls, 1),
        "young_collections_per_poll": round(sum(snapshot["collections"][:2]) / calls, 3),
        "full_collections": snapshot["collections"][2],
        "kept_per_wait": round(sum(kept.values()) / len(ids), 1),
        "kept_per_wait_by_type": {name: round(n / len(ids), 2) for name, n in kept.most_common(25)},
        "cyclic_garbage_per_poll": round(sum(cyclic.values()) / cycle_calls, 1),
        "cyclic_garbage_per_poll_by_type": {name: round(n / cycle_calls, 2) for name, n in cyclic.most_common(25)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waits", type=int, default=300)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="querystatus-poll-garbage-"))
    os.environ.update(
        AIRFLOW_HOME=str(workdir), AIRFLOW__CORE__LOAD_EXAMPLES="False", AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
        AWS_EC2_METADATA_DISABLED="true",
    )
    emulator, url = start_emulator(workdir)
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps({
        "conn_type": "aws", "login": KEYS[0], "password": KEYS[1],
        "extra": {"region_name": "us-east-1", "endpoint_url": url}})
    try:
        ids = control(url, "POST", "/_emulator/queries", {"queries": [
            {"kind": "athena_calculation", "steps": ["RUNNING"]} for _ in range(args.waits)]})["query_ids"]
        report = asyncio.run(measure(args, url, ids))
    finally:
        emulator.terminate()
        emulator.wait(30)
    prepared = os.environ.get("AIRFLOW__QUERYSTATUS__PREPARED_STATUS_CALLS", "True")
    report["prepared_status_calls"] = prepared
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_leaving_nothing(main))
