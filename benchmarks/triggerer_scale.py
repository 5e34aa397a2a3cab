"""Triggerer scale: what N concurrent deferred waits cost in one asyncio loop.

    .venv/bin/python benchmarks/triggerer_scale.py                  # N = 1,000 and 10,000, 3 runs
    .venv/bin/python benchmarks/triggerer_scale.py --sizes 1000 --runs 3 --provider-sizes 1000

The emulator runs in its own process over TLS on 127.0.0.1 (a self-signed certificate is
made on the fly; it verifies the SigV4 signature of every request), so its CPU is not
counted. Each query is RUNNING for ``--running-seconds`` and then COMPLETED. Every scenario
runs in a fresh child process that first imports the same modules (Airflow, the amazon
provider, aiobotocore, this package), so the figures differ only by how the waiting is done:

* ``floor``: one shared aiobotocore client, a bare poll loop per query, the same intervals;
* ``prepared``: this package's ``AthenaCalculationExecutionTrigger`` with prepared status
  calls (``[querystatus] prepared_status_calls = True``, the default);
* ``plain``: the same trigger with every poll a plain client call (the option False);
* ``provider``: the amazon provider's pattern, an ``AwsBaseWaiterTrigger`` subclass using
  its ``calculation_complete`` waiter (GetCalculationExecution, one client per trigger).

Method: ``--runs`` rounds (default 3), each running every scenario once in the same order
(interleaved, so a drift of the machine hits every scenario alike); each figure is the median
over the rounds (CPU also shows min-max). One-time costs are reported apart: ``import_cpu_s``
(importing what the scenario needs) and ``first_client_cpu_s`` (a warm-up wait on an already
COMPLETED query, which builds and drops the first client). The measured run then builds its
client again (our pool closes a client when its last wait leaves), as the floor does.
``cpu_us_per_wait`` and ``cpu_us_per_call`` divide the measured run's CPU by N and by the
API calls made. The file-descriptor limit is raised to the hard limit (N = 10,000 needs it).

Printed: JSON per scenario run on stderr as it finishes, then the medians, the ratios
prepared/floor, plain/floor and provider/prepared (CPU and peak RSS) and a table.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
TICK = 0.05


# --------------------------------------------------------------------------- parent side
def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, valid for a day."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class Emulator:
    def __init__(self, workdir: Path) -> None:
        self.cert, key = make_certificate(workdir)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"https://127.0.0.1:{port}"
        self.log = open(workdir / "emulator.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "airflow_querystatus.emulator", "--port", str(port),
             "--tls-cert", str(self.cert), "--tls-key", str(key),
             "--credentials", "bench-key:bench-secret", "--credentials", "k:s"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        self._ssl = ssl.create_default_context(cafile=str(self.cert))
        for _ in range(200):
            try:
                self.call("GET", "/_emulator/stats")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("emulator did not start")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120, context=self._ssl) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timings(n: int, args: argparse.Namespace) -> dict[str, float]:
    """Intervals and running time scale with N/1000: the same ~4 polls per wait and the same
    call rate (~450/s, what two cores serve with TLS) at every size. At N = 10,000 with
    2 s intervals any implementation saturates the loop, and the floor then "wins" only by
    polling less."""
    scale = max(1.0, n / 1000) if args.scale_intervals else 1.0
    return {
        "poll_interval": args.poll_interval * scale,
        "max_poll_interval": args.max_poll_interval * scale,
        "running_seconds": args.running_seconds * scale,
    }


def run_scenario(emulator: Emulator, scenario: str, n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    timing = timings(n, args)
    steps = [{"state": "RUNNING", "seconds": timing["running_seconds"]}, "COMPLETED"]
    ids: list[str] = []
    for start in range(0, n, 2000):
        batch = [{"kind": "athena_calculation", "steps": steps, "clock_from_first_poll": True}
                 for _ in range(start, min(n, start + 2000))]
        ids += emulator.call("POST", "/_emulator/queries", {"queries": batch})["query_ids"]
    warmup = emulator.call("POST", "/_emulator/queries", {"kind": "athena_calculation", "steps": ["COMPLETED"]})
    ids_file = workdir / f"ids-{scenario}-{n}.json"
    ids_file.write_text(json.dumps(ids))
    out_file = workdir / f"result-{scenario}-{n}.json"
    env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
           "AIRFLOW__QUERYSTATUS__PREPARED_STATUS_CALLS": str(scenario != "plain")}
    before = emulator.call("GET", "/_emulator/stats")["requests"]
    with open(workdir / f"child-{scenario}-{n}.log", "wb") as log:
        subprocess.run(
            [sys.executable, __file__, "--child", scenario, "--ids-file", str(ids_file), "--out", str(out_file),
             "--url", emulator.url, "--ca", str(emulator.cert), "--poll-interval", str(timing["poll_interval"]),
             "--max-poll-interval", str(timing["max_poll_interval"]), "--warmup-id", warmup["query_id"],
             *(["--profile", f"{args.profile}-{scenario}-{n}.prof"] if args.profile else [])],
            check=True, stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    after = emulator.call("GET", "/_emulator/stats")["requests"]
    child = json.loads(out_file.read_text())
    warmup_calls = emulator.call("GET", f"/_emulator/queries/{warmup['query_id']}")["status_calls"]
    calls = sum(after.get(op, 0) - before.get(op, 0) for op in after) - warmup_calls
    history = emulator.call("GET", "/_emulator/history?kind=athena_calculation")
    delays = []
    for query_id, event_time in child.pop("events").items():
        completed = next((t for state, t in history[query_id] if state == "COMPLETED"), None)
        if completed is not None:
            delays.append(event_time - completed)
    return {
        "scenario": scenario,
        "n": n,
        **timing,
        **child,
        "api_calls": calls,
        "calls_per_wait": round(calls / n, 2),
        "cpu_us_per_wait": round(child["cpu_seconds"] / n * 1e6),
        "cpu_us_per_call": round(child["cpu_seconds"] / max(calls, 1) * 1e6),
        "detection_delay_p50_s": round(percentile(delays, 50) or 0, 3),
        "detection_delay_p99_s": round(percentile(delays, 99) or 0, 3),
    }


def ratios(ours: dict[str, Any], other: dict[str, Any]) -> dict[str, float]:
    return {
        "cpu": round(ours["cpu_seconds"] / other["cpu_seconds"], 2),
        "peak_rss": round(ours["peak_rss_mib"] / other["peak_rss_mib"], 2),
        "rss_growth": round(ours["rss_growth_mib"] / max(other["rss_growth_mib"], 1.0), 2),
    }


def median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each numeric figure's median over the runs; CPU also keeps its min and max."""
    merged: dict[str, Any] = {}
    for key, value in rows[0].items():
        values = [row[key] for row in rows]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            median = statistics.median(values)
            merged[key] = round(median, 3) if isinstance(median, float) else median
        else:
            merged[key] = value
    merged["runs"] = len(rows)
    merged["cpu_seconds_min_max"] = [min(r["cpu_seconds"] for r in rows), max(r["cpu_seconds"] for r in rows)]
    merged["completed_min"] = min(r["completed"] for r in rows)
    return merged


def raise_fd_limit() -> int:
    """Each wait may hold a socket; N = 10,000 needs more than the usual 1,024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def parent(args: argparse.Namespace) -> None:
    from airflow_querystatus.polling import JITTER

    print(f"file descriptor limit: {raise_fd_limit()}", file=sys.stderr)  # inherited by children
    workdir = Path(tempfile.mkdtemp(prefix="triggerer-scale-"))
    emulator = Emulator(workdir)
    results: list[dict[str, Any]] = []
    incomplete: list[str] = []
    try:
        for n in args.sizes:
            scenarios = ["floor", "prepared", "plain"] + (["provider"] if n in args.provider_sizes else [])
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in scenarios}
            for run in range(args.runs):
                for scenario in scenarios:
                    if scenario == "provider" and run >= args.provider_runs:
                        continue
                    print(f"run {run + 1}/{args.runs}: {scenario} at N={n} ...", file=sys.stderr, flush=True)
                    row = run_scenario(emulator, scenario, n, args, workdir)
                    print(json.dumps(row), file=sys.stderr, flush=True)
                    if row["completed"] != n:
                        incomplete.append(f"{scenario} at N={n}, run {run + 1}: {row['completed']} of {n} completed")
                    runs[scenario].append(row)
            by_name = {name: median_row(rows) for name, rows in runs.items()}
            summary: dict[str, Any] = {
                "n": n,
                "scenarios": by_name,
                "prepared_vs_floor": ratios(by_name["prepared"], by_name["floor"]),
                "plain_vs_floor": ratios(by_name["plain"], by_name["floor"]),
            }
            if "provider" in by_name:
                summary["provider_vs_prepared"] = ratios(by_name["provider"], by_name["prepared"])
            summary["detection_bound_s"] = round(timings(n, args)["max_poll_interval"] * (1 + JITTER) + 1, 2)
            results.append(summary)
    finally:
        emulator.stop()
    report = {"cores": os.cpu_count(), "runs": args.runs, "results": results}
    print(json.dumps(report, indent=2))
    print_table(results)
    for message in incomplete:
        print(f"ERROR: {message}", file=sys.stderr)
    if incomplete:
        sys.exit(1)


def print_table(results: list[dict[str, Any]]) -> None:
    head = f"{'N':>6} {'scenario':<9} {'cpu s':>7} {'min-max':>12} {'us/wait':>8} {'us/call':>8} {'import s':>8} " \
           f"{'1st cl s':>8} {'peak MiB':>9} {'wall s':>7} {'calls':>7} {'lag p50':>8} {'lag p99':>8} {'det p99':>8}"
    print(head, file=sys.stderr)
    for summary in results:
        for name, row in summary["scenarios"].items():
            low, high = row["cpu_seconds_min_max"]
            print(f"{row['n']:>6} {name:<9} {row['cpu_seconds']:>7.2f} {f'{low:.2f}-{high:.2f}':>12} "
                  f"{row['cpu_us_per_wait']:>8} {row['cpu_us_per_call']:>8} {row['import_cpu_s']:>8.2f} "
                  f"{row['first_client_cpu_s']:>8.3f} {row['peak_rss_mib']:>9.0f} {row['wall_seconds']:>7.1f} "
                  f"{row['api_calls']:>7} {row['loop_lag_p50_ms']:>7.1f}m {row['loop_lag_p99_ms']:>7.1f}m "
                  f"{row['detection_delay_p99_s']:>7.2f}s", file=sys.stderr)
    for summary in results:
        floor, prepared = summary["scenarios"]["floor"], summary["scenarios"]["prepared"]
        print(f"N={summary['n']}: prepared CPU = {summary['prepared_vs_floor']['cpu']}x floor (target <= 0.65), "
              f"plain = {summary['plain_vs_floor']['cpu']}x; peak RSS prepared {prepared['peak_rss_mib']:.0f} MiB "
              f"vs floor {floor['peak_rss_mib']:.0f} MiB; loop lag p99 prepared {prepared['loop_lag_p99_ms']} ms "
              f"vs floor {floor['loop_lag_p99_ms']} ms", file=sys.stderr)


# --------------------------------------------------------------------------- child side
def child(args: argparse.Namespace) -> None:
    raise_fd_limit()
    import_cpu0 = time.process_time()
    # Same imports for every scenario: only the waiting code differs.
    import aiobotocore.session
    from aiobotocore.config import AioConfig
    from airflow.providers.amazon.aws.hooks.athena import AthenaHook
    from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

    from airflow_querystatus.triggers.athena import AthenaCalculationExecutionTrigger

    import_cpu = time.process_time() - import_cpu0

    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps({
        "conn_type": "aws", "login": "bench-key", "password": "bench-secret",
        "extra": {"region_name": REGION, "endpoint_url": args.url},
    })
    ids: list[str] = json.loads(Path(args.ids_file).read_text())
    events: dict[str, float] = {}
    lags: list[float] = []

    class ProviderCalculationTrigger(AwsBaseWaiterTrigger):
        """The amazon provider's pattern, on its own ``calculation_complete`` waiter."""

        def __init__(self, calculation_execution_id: str, **kwargs: Any) -> None:
            super().__init__(
                serialized_fields={"calculation_execution_id": calculation_execution_id},
                waiter_name="calculation_complete",
                waiter_args={"CalculationExecutionId": calculation_execution_id},
                failure_message="calculation failed",
                status_message="calculation status",
                status_queries=["Status.State"],
                return_key="calculation_execution_id",
                return_value=calculation_execution_id,
                **kwargs,
            )

        def hook(self) -> AthenaHook:
            return AthenaHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify)

    async def ticker(stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            expected = loop.time() + TICK
            await asyncio.sleep(TICK)
            lags.append(max(0.0, loop.time() - expected))

    async def floor() -> None:
        session = aiobotocore.session.get_session()
        config = AioConfig(max_pool_connections=50, retries={"mode": "standard", "max_attempts": 3})
        async with session.create_client("athena", endpoint_url=args.url, region_name=REGION, verify=args.ca,
                                         aws_access_key_id="k", aws_secret_access_key="s", config=config) as client:
            async def wait(query_id: str) -> None:
                interval = args.poll_interval
                while True:
                    answer = await client.get_calculation_execution_status(CalculationExecutionId=query_id)
                    if answer["Status"]["State"] in ("COMPLETED", "FAILED", "CANCELED"):
                        events[query_id] = time.time()
                        return
                    await asyncio.sleep(interval)
                    interval = min(interval * 1.5, args.max_poll_interval)

            await start_like_the_triggerer([wait(i) for i in ids])

    async def start_like_the_triggerer(coroutines: list[Any]) -> None:
        """The triggerer creates each trigger's task and yields to the loop in between."""
        tasks = []
        for coroutine in coroutines:
            tasks.append(asyncio.create_task(coroutine))
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)

    async def drain(trigger: Any, query_id: str) -> None:
        async for _event in trigger.run():
            events[query_id] = time.time()
            return

    async def ours() -> None:
        deadline = time.time() + 3600

        async def one(query_id: str) -> None:
            trigger = AthenaCalculationExecutionTrigger(
                calculation_execution_id=query_id, verify=args.ca, poll_interval=args.poll_interval,
                max_poll_interval=args.max_poll_interval, deadline=deadline)
            await drain(trigger, query_id)

        await start_like_the_triggerer([one(i) for i in ids])

    async def provider() -> None:
        async def one(query_id: str) -> None:
            trigger = ProviderCalculationTrigger(query_id, waiter_delay=int(args.poll_interval),
                                                 waiter_max_attempts=1000, aws_conn_id="aws_default",
                                                 region_name=REGION, verify=args.ca)
            await drain(trigger, query_id)

        await start_like_the_triggerer([one(i) for i in ids])

    async def floor_warmup() -> None:
        session = aiobotocore.session.get_session()
        async with session.create_client("athena", endpoint_url=args.url, region_name=REGION, verify=args.ca,
                                         aws_access_key_id="k", aws_secret_access_key="s"):
            pass

    async def ours_warmup() -> None:
        await drain(AthenaCalculationExecutionTrigger(calculation_execution_id=args.warmup_id, verify=args.ca),
                    "warm-up")

    async def provider_warmup() -> None:
        await drain(ProviderCalculationTrigger(args.warmup_id, waiter_delay=1, waiter_max_attempts=10,
                                               aws_conn_id="aws_default", region_name=REGION, verify=args.ca),
                    "warm-up")

    scenario, warmup = {
        "floor": (floor, floor_warmup),
        "prepared": (ours, ours_warmup),
        "plain": (ours, ours_warmup),
        "provider": (provider, provider_warmup),
    }[args.child]
    warmup_cpu0 = time.process_time()
    asyncio.run(warmup())
    first_client_cpu = time.process_time() - warmup_cpu0
    events.pop("warm-up", None)

    async def main() -> None:
        stop = asyncio.Event()
        tick = asyncio.ensure_future(ticker(stop))
        await scenario()
        stop.set()
        await tick

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu0, wall0 = time.process_time(), time.time()
    if args.profile:
        import cProfile

        cProfile.runctx("asyncio.run(main())", globals(), locals(), args.profile)
    else:
        asyncio.run(main())
    cpu, wall = time.process_time() - cpu0, time.time() - wall0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.out).write_text(json.dumps({
        "cpu_seconds": round(cpu, 2),
        "import_cpu_s": round(import_cpu, 2),
        "first_client_cpu_s": round(first_client_cpu, 3),
        "wall_seconds": round(wall, 2),
        "peak_rss_mib": round(peak, 1),
        "baseline_rss_mib": round(baseline, 1),
        "rss_growth_mib": round(peak - baseline, 1),
        "completed": len(events),
        "loop_lag_p50_ms": round((statistics.median(lags) if lags else 0) * 1000, 1),
        "loop_lag_p99_ms": round((percentile(lags, 99) or 0) * 1000, 1),
        "events": events,
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--provider-sizes", type=int, nargs="*", default=[1000, 10000],
                        help="sizes at which to run the provider's pattern too (10,000 takes minutes)")
    parser.add_argument("--runs", type=int, default=3, help="interleaved rounds; figures are their medians")
    parser.add_argument("--provider-runs", type=int, default=1,
                        help="rounds that include the provider's pattern (the slowest by far)")
    # 7.5 s sits between the schedule's polls (0, 2, 5, 9.5 s), so every scenario makes the
    # same four polls even when a burst delays some of them by a second.
    parser.add_argument("--running-seconds", type=float, default=7.5)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--max-poll-interval", type=float, default=4.0)
    parser.add_argument("--no-scale-intervals", dest="scale_intervals", action="store_false",
                        help="use the same intervals at every N (saturates two cores at N = 10,000)")
    parser.add_argument("--child", choices=["floor", "prepared", "plain", "provider"], help=argparse.SUPPRESS)
    parser.add_argument("--warmup-id", help=argparse.SUPPRESS)
    parser.add_argument("--ids-file", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    parser.add_argument("--profile", help="write a cProfile of each child run to this path prefix")
    args = parser.parse_args()
    if args.child:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
