"""Triggerer scale: what N concurrent deferred waits cost in one asyncio loop.

    make benchmark                                                     # the same as the next line
    .venvs/airflow-3.3/bin/python benchmarks/triggerer_scale.py        # N = 1,000 and 10,000, 3 runs
    .venvs/airflow-3.3/bin/python benchmarks/triggerer_scale.py --sizes 1000 --runs 5
    .venvs/airflow-3.3/bin/python benchmarks/triggerer_scale.py --sizes 200 --runs 1 --scenarios floor prepared plain

The emulator runs in its own process over TLS on 127.0.0.1 (a self-signed certificate is
made on the fly), so its CPU is not counted. If the emulator accepts ``--credentials`` it is
started with the two keys used here (``bench-key``, ``k``), so every request's SigV4
signature is verified. Each query is RUNNING for ``--running-seconds`` after its first poll,
then COMPLETED.

Scenarios (each run is a fresh child process that imports the same modules: Airflow, the
amazon provider, aiobotocore and this package; only the waiting code differs):

* ``floor``: one shared bare aiobotocore client and a bare poll loop per query, with the same
  intervals (growing x1.5 up to the ceiling, no jitter): the least any waiting code can cost;
* ``prepared``: this package's ``AthenaCalculationExecutionTrigger`` with
  ``AIRFLOW__QUERYSTATUS__PREPARED_STATUS_CALLS=true`` (prepared status calls, the default);
* ``plain``: the same trigger with ``AIRFLOW__QUERYSTATUS__PREPARED_STATUS_CALLS=false`` (every
  poll a plain aiobotocore client call); on a release without prepared calls both are the same;
* ``provider``: the amazon provider's pattern, an ``AwsBaseWaiterTrigger`` subclass on its own
  ``calculation_complete`` waiter (GetCalculationExecution, one client per trigger), in
  ``benchmarks/provider_pattern.py``.

Method: for each size N (``--sizes``, default 1,000 and 10,000) the scenarios run
``--runs`` times (default 3), interleaved: run 1 is floor, prepared, plain, provider; each
later run rotates that order by one, so slow drift on a shared machine spreads over all
scenarios. Every figure reported is the MEDIAN over the runs (CPU seconds also with min and
max). The provider's pattern is slow at N = 10,000 (a client per trigger): it runs at
``--provider-sizes`` (default both), ``--provider-runs`` times; by default as many runs as the
others below N = 10,000 and ONE run at N >= 10,000. Intervals and running time are scaled by
N/1000 (``--no-scale-intervals`` turns that off), so every size makes ~4 polls per wait at the
same call rate (~450/s, what two cores serve with TLS). At N >= 10,000 the file-descriptor
soft limit is raised to the hard limit in this process (before the emulator starts, which
inherits it) and in each child.

One-time costs are reported apart from the N-wait run. In each child:

* ``startup_cpu_s``: the interpreter's start and this script's standard-library imports;
* ``import_cpu_s``: CPU of importing the modules above (the same for every scenario);
* ``first_client_cpu_s``: a warm-up paying the first client's and first call's one-time costs
  (lazy imports, first TLS context...) on the same event loop, against a separate query that
  is already COMPLETED: floor creates one bare client as its scenario does, makes one status
  call and closes it; prepared/plain/provider run one trigger to completion.

Then the N waits are started the way the triggerer starts them, and measured: ``cpu_seconds``
(the child's CPU, all threads), ``cpu_us_per_wait`` (cpu / N) and ``cpu_us_per_call`` (cpu / API
calls), wall time, peak RSS and its growth over the RSS after the warm-up, API calls (counted
by the emulator during the N-wait run only) and calls per wait, event-loop lag p50/p99 (a
50 ms ticker), and detection delay p50/p99 (from the emulator's state change to the wait's
event). The floor and our triggers keep the warm-up's client for the N-wait run (our shared
pool is held by one subscription across both, as a triggerer's pool is held by the waits it
always has), so building a client counts as a one-time cost; the provider's pattern builds
one client per trigger, inside the run.

``--profile PREFIX`` writes a cProfile of each N-wait run (not the imports or the warm-up) to
``PREFIX-<scenario>-<N>-run<r>.prof``.

Every wait must end successfully: a run that completes fewer than N waits (or whose child
fails) is reported with an ERROR line and the benchmark exits non-zero at the end.

Printed: progress and the tables to stderr, the full report as JSON to stdout; per N the
ratios of the medians (prepared/floor, plain/floor, prepared/plain, provider/prepared, for
CPU and peak RSS) and one summary line for the README.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import functools
import gc
import importlib.util
import json
import os
import re
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
TICK = 0.05
SCENARIOS = ("floor", "prepared", "plain", "provider")
#: The trigger scenarios' setting of ``[querystatus] prepared_status_calls``; unset for the others.
PREPARED_ENV = "AIRFLOW__QUERYSTATUS__PREPARED_STATUS_CALLS"
PREPARED_SETTING = {"prepared": "true", "plain": "false"}
#: The connection our triggers and the provider's use, and the floor's own key.
CONNECTION_KEY, CONNECTION_SECRET = "bench-key", "bench-secret"
FLOOR_KEY, FLOOR_SECRET = "k", "s"
#: From this N on: the file-descriptor limit is raised, and the provider runs once by default.
LARGE_N = 10_000
#: The goal for prepared calls: CPU at most this times the floor's.
PREPARED_CPU_TARGET = 0.65

#: Per-run figures summarised as medians, with the decimals they are reported with.
METRICS: dict[str, int] = {
    "startup_cpu_s": 3,
    "import_cpu_s": 3,
    "first_client_cpu_s": 3,
    "cpu_seconds": 2,
    "cpu_us_per_wait": 0,
    "cpu_us_per_call": 0,
    "wall_seconds": 2,
    "peak_rss_mib": 1,
    "baseline_rss_mib": 1,
    "rss_growth_mib": 1,
    "api_calls": 0,
    "calls_per_wait": 2,
    "gc_cpu_s": 3,
    "gc_full_collections": 0,
    "loop_lag_p50_ms": 1,
    "loop_lag_p99_ms": 1,
    "detection_delay_p50_s": 3,
    "detection_delay_p99_s": 3,
}


def nofile_limit(raise_to_hard: bool) -> tuple[int, int]:
    """The RLIMIT_NOFILE (soft, hard) in force, after raising the soft limit if asked."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if raise_to_hard and soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def get_json(url: str, context: ssl.SSLContext, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120, context=context) as response:
        return json.loads(response.read())


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


def emulator_verifies_credentials() -> bool:
    """Whether this emulator has ``--credentials`` (SigV4 verification of known keys)."""
    help_text = subprocess.run([sys.executable, "-m", "airflow_querystatus.emulator", "--help"],
                               capture_output=True, text=True, check=True).stdout
    return "--credentials" in help_text


class Emulator:
    def __init__(self, workdir: Path, credentials: list[str]) -> None:
        self.cert, key = make_certificate(workdir)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"https://127.0.0.1:{port}"
        self.log = open(workdir / "emulator.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "airflow_querystatus.emulator", "--port", str(port),
             "--tls-cert", str(self.cert), "--tls-key", str(key),
             *(arg for pair in credentials for arg in ("--credentials", pair))],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        self._ssl = ssl.create_default_context(cafile=str(self.cert))
        for _ in range(200):
            try:
                self.call("GET", "/_emulator/stats")
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"emulator did not start; see {workdir / 'emulator.log'}")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return get_json(self.url + path, self._ssl, method, body)

    def plant(self, n: int, steps: list[Any]) -> list[str]:
        ids: list[str] = []
        for start in range(0, n, 2000):
            batch = [{"kind": "athena_calculation", "steps": steps, "clock_from_first_poll": True}
                     for _ in range(start, min(n, start + 2000))]
            ids += self.call("POST", "/_emulator/queries", {"queries": batch})["query_ids"]
        return ids

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


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


def provider_runs(n: int, args: argparse.Namespace) -> int:
    if n not in args.provider_sizes:
        return 0
    if args.provider_runs is not None:
        return int(args.provider_runs)
    return 1 if n >= LARGE_N else int(args.runs)


def schedule(n: int, args: argparse.Namespace) -> list[list[str]]:
    """The scenarios of each run, in order: run r rotates the base order by r."""
    rounds = []
    for r in range(max(args.runs, provider_runs(n, args))):
        order = SCENARIOS[r % len(SCENARIOS):] + SCENARIOS[: r % len(SCENARIOS)]
        rounds.append([s for s in order if s in args.scenarios
                       and r < (provider_runs(n, args) if s == "provider" else args.runs)])
    return rounds


def run_scenario(emulator: Emulator, scenario: str, n: int, run: int, args: argparse.Namespace,
                 workdir: Path) -> dict[str, Any]:
    """One fresh child process: warm-up, then N waits. A failed child is reported, not raised."""
    timing = timings(n, args)
    ids = emulator.plant(n, [{"state": "RUNNING", "seconds": timing["running_seconds"]}, "COMPLETED"])
    (warmup_id,) = emulator.plant(1, ["COMPLETED"])
    tag = f"{scenario}-{n}-run{run}"
    ids_file = workdir / f"ids-{tag}.json"
    ids_file.write_text(json.dumps(ids))
    out_file, log_file = workdir / f"result-{tag}.json", workdir / f"child-{tag}.log"
    env = {
        **os.environ,
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({
            "conn_type": "aws", "login": CONNECTION_KEY, "password": CONNECTION_SECRET,
            "extra": {"region_name": REGION, "endpoint_url": emulator.url},
        }),
    }
    env.pop(PREPARED_ENV, None)
    if scenario in PREPARED_SETTING:
        env[PREPARED_ENV] = PREPARED_SETTING[scenario]
    with open(log_file, "wb") as log:
        code = subprocess.run(
            [sys.executable, __file__, "--child", scenario, "--ids-file", str(ids_file), "--warmup-id", warmup_id,
             "--out", str(out_file), "--url", emulator.url, "--ca", str(emulator.cert),
             "--poll-interval", str(timing["poll_interval"]), "--max-poll-interval", str(timing["max_poll_interval"]),
             *(["--profile", f"{args.profile}-{tag}.prof"] if args.profile else [])],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        ).returncode
    row: dict[str, Any] = {"scenario": scenario, "n": n, "run": run, **timing}
    if code != 0 or not out_file.exists():
        return {**row, "failed": f"child exited with {code}; see {log_file}", "completed": 0}
    child = json.loads(out_file.read_text())
    history = emulator.call("GET", "/_emulator/history?kind=athena_calculation")
    delays = []
    for query_id, event_time in child.pop("events").items():
        completed = next((t for state, t in history[query_id] if state == "COMPLETED"), None)
        if completed is not None:
            delays.append(event_time - completed)
    calls = child["api_calls"]
    cpu = child["cpu_seconds"]
    return {
        **row,
        **child,
        "cpu_us_per_wait": round(cpu / n * 1e6),
        "cpu_us_per_call": round(cpu / calls * 1e6) if calls else None,
        "calls_per_wait": round(calls / n, 2),
        "detection_delay_p50_s": round(percentile(delays, 50) or 0, 3),
        "detection_delay_p99_s": round(percentile(delays, 99) or 0, 3),
    }


def summarise(rows: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """One scenario at one N: the median of every metric over its successful runs."""
    good = [row for row in rows if "failed" not in row]
    summary: dict[str, Any] = {"runs": len(rows), "failed_runs": len(rows) - len(good),
                               "completed_min": min((row["completed"] for row in rows), default=0), "n": n}
    for key, decimals in METRICS.items():
        values = [row[key] for row in good if row.get(key) is not None]
        if values:
            median = round(statistics.median(values), decimals)
            summary[key] = int(median) if decimals == 0 else median
    cpus = [row["cpu_seconds"] for row in good]
    if cpus:
        summary["cpu_seconds_min"], summary["cpu_seconds_max"] = min(cpus), max(cpus)
    summary["per_run"] = rows
    return summary


def ratio(ours: dict[str, Any], other: dict[str, Any], key: str) -> float | None:
    if key not in ours or not other.get(key):
        return None
    return round(ours[key] / other[key], 2)


def ratios(by_name: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    pairs = [("prepared", "floor"), ("plain", "floor"), ("prepared", "plain"), ("provider", "prepared")]
    return {
        f"{a}_vs_{b}": {"cpu": ratio(by_name[a], by_name[b], "cpu_seconds"),
                        "peak_rss": ratio(by_name[a], by_name[b], "peak_rss_mib")}
        for a, b in pairs if a in by_name and b in by_name
    }


def parent(args: argparse.Namespace) -> int:
    from airflow_querystatus.polling import JITTER

    soft, hard = nofile_limit(raise_to_hard=max(args.sizes) >= LARGE_N)
    print(f"RLIMIT_NOFILE soft {soft} (hard {hard}){' raised for N >= 10,000' if max(args.sizes) >= LARGE_N else ''}"
          "; the emulator inherits it", file=sys.stderr, flush=True)
    verify = emulator_verifies_credentials()
    credentials = [f"{CONNECTION_KEY}:{CONNECTION_SECRET}", f"{FLOOR_KEY}:{FLOOR_SECRET}"] if verify else []
    print("emulator verifies SigV4 signatures of " + (", ".join(k.split(":")[0] for k in credentials) if verify
          else "no key (no --credentials option)"), file=sys.stderr, flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="triggerer-scale-"))
    emulator = Emulator(workdir, credentials)
    results: list[dict[str, Any]] = []
    errors: list[str] = []
    try:
        for n in args.sizes:
            rows: dict[str, list[dict[str, Any]]] = {}
            rounds = schedule(n, args)
            for r, order in enumerate(rounds, 1):
                for scenario in order:
                    print(f"N={n} run {r}/{len(rounds)}: {scenario} ...", file=sys.stderr, end=" ", flush=True)
                    row = run_scenario(emulator, scenario, n, r, args, workdir)
                    rows.setdefault(scenario, []).append(row)
                    if "failed" in row:
                        errors.append(f"N={n} run {r} {scenario}: {row['failed']}")
                        print(f"FAILED: {row['failed']}", file=sys.stderr, flush=True)
                        continue
                    if row["completed"] < n:
                        errors.append(f"N={n} run {r} {scenario}: {row['completed']} of {n} waits completed "
                                      f"({row['errors']} errors, e.g. {row['error_sample']})")
                    print(f"cpu {row['cpu_seconds']:.2f} s, first client {row['first_client_cpu_s']:.3f} s, "
                          f"peak {row['peak_rss_mib']:.0f} MiB, calls {row['api_calls']}, "
                          f"completed {row['completed']}/{n}", file=sys.stderr, flush=True)
            by_name = {name: summarise(rows[name], n) for name in SCENARIOS if name in rows}
            results.append({
                "n": n,
                **timings(n, args),
                "detection_bound_s": round(timings(n, args)["max_poll_interval"] * (1 + JITTER) + 1, 2),
                "scenarios": by_name,
                "ratios": ratios(by_name),
            })
    finally:
        emulator.stop()
    report = {
        "cores": os.cpu_count(),
        "nofile_limit": {"soft": soft, "hard": hard},
        "emulator_verifies_signatures": verify,
        "runs": args.runs,
        "prepared_cpu_target_vs_floor": PREPARED_CPU_TARGET,
        "workdir": str(workdir),
        "results": results,
        "errors": errors,
    }
    print(json.dumps(report, indent=2))
    print_tables(results)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    return 1 if errors else 0


def _fmt(value: Any, spec: str, suffix: str = "") -> str:
    """``value`` formatted by ``spec`` (e.g. ``>7.2f``) plus ``suffix``; a missing one as ``-``."""
    if value is None:
        digits = re.sub(r"^\D*(\d*).*$", r"\1", spec)
        width = int(digits or 0) + len(suffix)
        return f"{'-':>{width}}"
    return f"{value:{spec}}{suffix}"


def print_tables(results: list[dict[str, Any]]) -> None:
    out = sys.stderr
    print("\nMedian over runs (N-wait run; CPU with min-max):", file=out)
    print(f"{'N':>6} {'scenario':<9} {'runs':>4} {'cpu s':>7} {'min-max':>13} {'us/wait':>8} {'us/call':>8} "
          f"{'peak MiB':>8} {'grow MiB':>8} {'wall s':>7} {'calls':>7} {'c/wait':>6} {'lag p50':>8} "
          f"{'lag p99':>8} {'det p50':>8} {'det p99':>8} {'done':>6}", file=out)
    for result in results:
        for name, row in result["scenarios"].items():
            span = (f"{row['cpu_seconds_min']:.2f}-{row['cpu_seconds_max']:.2f}"
                    if "cpu_seconds_min" in row else "-")
            print(f"{result['n']:>6} {name:<9} {row['runs']:>4} {_fmt(row.get('cpu_seconds'), '>7.2f')} {span:>13} "
                  f"{_fmt(row.get('cpu_us_per_wait'), '>8')} {_fmt(row.get('cpu_us_per_call'), '>8')} "
                  f"{_fmt(row.get('peak_rss_mib'), '>8.0f')} {_fmt(row.get('rss_growth_mib'), '>8.0f')} "
                  f"{_fmt(row.get('wall_seconds'), '>7.1f')} {_fmt(row.get('api_calls'), '>7')} "
                  f"{_fmt(row.get('calls_per_wait'), '>6.2f')} {_fmt(row.get('loop_lag_p50_ms'), '>6.1f', 'ms')} "
                  f"{_fmt(row.get('loop_lag_p99_ms'), '>6.1f', 'ms')} "
                  f"{_fmt(row.get('detection_delay_p50_s'), '>7.2f', 's')} "
                  f"{_fmt(row.get('detection_delay_p99_s'), '>7.2f', 's')} {row['completed_min']:>6}", file=out)
    print("\nGarbage collection during the N-wait run (median):", file=out)
    print(f"{'N':>6} {'scenario':<9} {'gc cpu s':>9} {'full gcs':>9}", file=out)
    for result in results:
        for name, row in result["scenarios"].items():
            print(f"{result['n']:>6} {name:<9} {_fmt(row.get('gc_cpu_s'), '>9.3f')} "
                  f"{_fmt(row.get('gc_full_collections'), '>9')}", file=out)
    print("\nOne-time costs per process (median; not in the figures above):", file=out)
    print(f"{'N':>6} {'scenario':<9} {'startup s':>9} {'import s':>9} {'first client s':>14}", file=out)
    for result in results:
        for name, row in result["scenarios"].items():
            print(f"{result['n']:>6} {name:<9} {_fmt(row.get('startup_cpu_s'), '>9.3f')} "
                  f"{_fmt(row.get('import_cpu_s'), '>9.3f')} {_fmt(row.get('first_client_cpu_s'), '>14.3f')}",
                  file=out)
    print("\nRatios of the medians:", file=out)
    for result in results:
        for pair, found in result["ratios"].items():
            print(f"{result['n']:>6} {pair:<20} cpu {_fmt(found['cpu'], '>5.2f', 'x')}  "
                  f"peak RSS {_fmt(found['peak_rss'], '>5.2f', 'x')}", file=out)
    print(file=out)
    for result in results:
        n, by_name, found = result["n"], result["scenarios"], result["ratios"]
        vs_floor = found.get("prepared_vs_floor")
        if vs_floor is None or vs_floor["cpu"] is None:
            continue
        print(f"N={n}: prepared CPU = {vs_floor['cpu']:.2f}x floor (target <= {PREPARED_CPU_TARGET:.2f}), "
              f"peak RSS prepared {by_name['prepared']['peak_rss_mib']:.0f} MiB vs floor "
              f"{by_name['floor']['peak_rss_mib']:.0f} MiB", file=out)


# --------------------------------------------------------------------------- child side
class GcClock:
    """CPU spent in the cyclic garbage collector, and its full (generation 2) collections.

    A full collection walks every tracked object of the process (Airflow's imports alone are
    ~200,000), and CPython starts one when the objects that survived into the oldest generation
    since the last one exceed a quarter of it: objects that live across a poll interval are
    what make a waiting loop pay for them.
    """

    def __init__(self) -> None:
        self.cpu = 0.0
        self.full_collections = 0
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
            return
        self.cpu += time.process_time() - self._started
        self.full_collections += info["generation"] == 2

    def stop(self) -> None:
        gc.callbacks.remove(self._on_gc)


#: How a scenario waits for ONE query: record when it ended (``time.time()``) in the first dict
#: and, if it did not succeed, why in the second. The harness starts one per query.
Wait = Callable[[str, dict[str, float], dict[str, str]], Awaitable[None]]


class WaitingCode:
    """What the scenarios wait with, and what importing it cost (see :func:`import_waiting_code`)."""

    def __init__(self, import_cpu_s: float, aiobotocore_session: Any, aio_config: Any, trigger: Any,
                 provider_trigger: Any, conf: Any) -> None:
        self.import_cpu_s = import_cpu_s
        self.aiobotocore_session = aiobotocore_session
        self.aio_config = aio_config
        self.trigger = trigger  # ours: AthenaCalculationExecutionTrigger
        self.provider_trigger = provider_trigger  # the amazon provider's pattern
        self.conf = conf  # Airflow's configuration, to report the prepared status calls' setting


def import_waiting_code() -> WaitingCode:
    """Import Airflow, the amazon provider, aiobotocore and this package, and measure the CPU.

    Here and not at the top of the script: the parent, which runs no waits, must not pay for
    them, and every child pays for the same imports whatever its scenario, so ``import_cpu_s``
    compares alike and only the waiting code differs.
    """
    cpu0 = time.process_time()
    import aiobotocore.session
    from aiobotocore.config import AioConfig
    from airflow.providers.amazon.aws.hooks.athena import AthenaHook  # noqa: F401 - the provider's pattern's
    from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger  # noqa: F401 - idem

    from airflow_querystatus.compat import conf
    from airflow_querystatus.triggers.athena import AthenaCalculationExecutionTrigger

    import_cpu = time.process_time() - cpu0
    # After the measured imports, as for every scenario: its modules are loaded above, so this
    # only defines the class (a module of its own so that the parent does not import them).
    from provider_pattern import ProviderCalculationTrigger

    return WaitingCode(import_cpu, aiobotocore.session, AioConfig, AthenaCalculationExecutionTrigger,
                       ProviderCalculationTrigger, conf)


async def start_like_the_triggerer(coroutines: list[Any]) -> None:
    """The triggerer creates each trigger's task and yields to the loop in between."""
    tasks = []
    for coroutine in coroutines:
        tasks.append(asyncio.create_task(coroutine))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)


class Harness:
    """The one measuring harness of a child process, the same for every scenario.

    A scenario (:func:`floor`, :func:`ours`, :func:`provider`) is an async function of the
    harness: it builds what its waits share across the warm-up and the N-wait run (the floor's
    client, our pool's subscription), then calls :meth:`measure` once with how it waits for one
    query. Everything measured is here, so no scenario measures itself differently: the warm-up's
    clock, the N-wait run's CPU, wall time, RSS, API calls and garbage collection, the loop-lag
    ticker, the events and failures, and the optional profile.
    """

    def __init__(self, args: argparse.Namespace, code: WaitingCode, ids: list[str]) -> None:
        self.args, self.code, self.ids = args, code, ids
        self.events: dict[str, float] = {}
        self.failures: dict[str, str] = {}
        self.lags: list[float] = []
        self.figures: dict[str, Any] = {}
        self._context = ssl.create_default_context(cafile=args.ca)
        self._profiler: Any = None
        if args.profile:
            import cProfile

            self._profiler = cProfile.Profile()
        self._warm_up_cpu0 = 0.0

    def run(self, scenario: Callable[[Harness], Awaitable[None]]) -> None:
        asyncio.run(self._run(scenario))
        if "cpu_seconds" not in self.figures:
            raise RuntimeError(f"the {self.args.child} scenario did not call Harness.measure")
        if self._profiler is not None:
            self._profiler.dump_stats(self.args.profile)

    async def _run(self, scenario: Callable[[Harness], Awaitable[None]]) -> None:
        # The warm-up's clock starts before the scenario builds anything: building the first
        # client is a one-time cost (first_client_cpu_s), on this loop.
        self._warm_up_cpu0 = time.process_time()
        await scenario(self)

    async def measure(self, wait: Wait) -> None:
        """The warm-up, then the N waits, measured; each batch started as the triggerer does.

        The warm-up waits for a query that is already COMPLETED, so that the first client's and
        the first call's one-time costs (lazy imports, first TLS context...) are reported apart,
        not in the N-wait run.
        """
        warm_failed: dict[str, str] = {}
        await start_like_the_triggerer([wait(self.args.warmup_id, {}, warm_failed)])
        self.figures["first_client_cpu_s"] = round(time.process_time() - self._warm_up_cpu0, 3)
        if warm_failed:
            raise RuntimeError(f"the warm-up wait failed: {warm_failed}")
        gc.collect()  # the imports' and the warm-up's garbage is not collected inside the measured run
        self.figures["baseline_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        before = self._requests_so_far()

        # The N waits.
        gc_clock = GcClock()
        tick = asyncio.ensure_future(self._ticker())
        if self._profiler is not None:
            self._profiler.enable()
        cpu0, wall0 = time.process_time(), time.time()
        await start_like_the_triggerer([wait(query_id, self.events, self.failures) for query_id in self.ids])
        cpu, wall = time.process_time() - cpu0, time.time() - wall0
        gc_clock.stop()
        if self._profiler is not None:
            self._profiler.disable()
        tick.cancel()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.figures.update({
            "cpu_seconds": round(cpu, 4),
            "wall_seconds": round(wall, 2),
            "peak_rss_mib": round(peak, 1),
            "rss_growth_mib": round(peak - self.figures["baseline_rss_mib"], 1),
            "api_calls": self._requests_so_far() - before,
            "gc_cpu_s": round(gc_clock.cpu, 3),
            "gc_full_collections": gc_clock.full_collections,
        })

    async def _ticker(self) -> None:
        """Event-loop lag: how late a 50 ms sleep wakes up while the waits run."""
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + TICK
            await asyncio.sleep(TICK)
            self.lags.append(max(0.0, loop.time() - expected))

    def _requests_so_far(self) -> int:
        """The emulator's count of API calls (its own, so the child's CPU does not count them)."""
        return sum(get_json(self.args.url + "/_emulator/stats", self._context)["requests"].values())

    def report(self, startup_cpu_s: float, nofile_soft: int) -> dict[str, Any]:
        """The child's figures; the parent adds the per-wait and per-call ones and the detection delays."""
        setting: bool | None = None  # None: a release without prepared status calls
        if importlib.util.find_spec("airflow_querystatus.prepared") is not None:
            setting = self.code.conf.getboolean("querystatus", "prepared_status_calls", fallback=True)
        return {
            "startup_cpu_s": round(startup_cpu_s, 3),
            "import_cpu_s": round(self.code.import_cpu_s, 3),
            **self.figures,
            "completed": len(self.events) - len(self.failures),
            "errors": len(self.failures),
            "error_sample": next(iter(self.failures.values()), None),
            "loop_lag_p50_ms": round((statistics.median(self.lags) if self.lags else 0) * 1000, 1),
            "loop_lag_p99_ms": round((percentile(self.lags, 99) or 0) * 1000, 1),
            "nofile_soft": nofile_soft,
            "prepared_status_calls": setting if self.args.child in PREPARED_SETTING else None,
            "events": self.events,
        }


# The scenarios: each builds what its waits share, then has the harness measure them.
async def floor(harness: Harness) -> None:
    """The least any waiting code can cost: one shared bare aiobotocore client, a bare poll loop
    per query. The client is built in the warm-up and kept for the N waits, so building it is a
    one-time cost, as our pool's client is."""
    args, code = harness.args, harness.code
    session = code.aiobotocore_session.get_session()
    config = code.aio_config(max_pool_connections=50, retries={"mode": "standard", "max_attempts": 3})
    async with session.create_client("athena", endpoint_url=args.url, region_name=REGION, verify=args.ca,
                                     aws_access_key_id=FLOOR_KEY, aws_secret_access_key=FLOOR_SECRET,
                                     config=config) as client:
        await harness.measure(functools.partial(bare_wait, client, args.poll_interval, args.max_poll_interval))


async def bare_wait(client: Any, interval: float, ceiling: float, query_id: str, ended: dict[str, float],
                    failed: dict[str, str]) -> None:
    """The floor's wait: the same intervals as the triggers (growing x1.5 up to the ceiling), no jitter."""
    try:
        while True:
            answer = await client.get_calculation_execution_status(CalculationExecutionId=query_id)
            state = answer["Status"]["State"]
            if state in ("COMPLETED", "FAILED", "CANCELED"):
                ended[query_id] = time.time()
                if state != "COMPLETED":
                    failed[query_id] = f"state {state}"
                return
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, ceiling)
    except Exception as err:
        ended[query_id] = time.time()
        failed[query_id] = repr(err)


async def ours(harness: Harness) -> None:
    """``prepared`` and ``plain`` (the parent sets the option in the environment): this package's
    trigger. One subscription holds the shared pool's client across the warm-up and the N waits,
    as a triggerer's pool is held by the waits it always has."""
    from airflow_querystatus.clients import shared_pool

    args, trigger = harness.args, harness.code.trigger
    key = trigger(calculation_execution_id=args.warmup_id, verify=args.ca, poll_interval=args.poll_interval,
                  max_poll_interval=args.max_poll_interval).client_key()
    async with shared_pool().subscribe(key):
        await harness.measure(functools.partial(drain, functools.partial(
            trigger, verify=args.ca, poll_interval=args.poll_interval, max_poll_interval=args.max_poll_interval,
            deadline=time.time() + 3600)))


async def provider(harness: Harness) -> None:
    """The amazon provider's pattern (benchmarks/provider_pattern.py): one client per trigger,
    built inside the run, so nothing is shared with the warm-up."""
    args = harness.args
    await harness.measure(functools.partial(drain, functools.partial(
        harness.code.provider_trigger, waiter_delay=max(1, round(args.poll_interval)), waiter_max_attempts=1000,
        aws_conn_id="aws_default", region_name=REGION, verify=args.ca)))


async def drain(new_trigger: Callable[..., Any], query_id: str, ended: dict[str, float],
                failed: dict[str, str]) -> None:
    """A trigger's wait, as the triggerer runs it: its first event ends it."""
    trigger = new_trigger(calculation_execution_id=query_id)
    try:
        async for event in trigger.run():
            ended[query_id] = time.time()
            if event.payload.get("status") != "success":
                failed[query_id] = f"event {event.payload}"
            return
    except Exception as err:
        ended[query_id] = time.time()
        failed[query_id] = repr(err)


CHILD_SCENARIOS: dict[str, Callable[[Harness], Awaitable[None]]] = {
    "floor": floor, "prepared": ours, "plain": ours, "provider": provider,
}


def child(args: argparse.Namespace) -> None:
    """One run of one scenario, in a fresh process; its figures go to ``--out`` as JSON."""
    startup_cpu = time.process_time()  # interpreter start and this script's stdlib imports
    ids: list[str] = json.loads(Path(args.ids_file).read_text())
    nofile_soft, _ = nofile_limit(raise_to_hard=len(ids) >= LARGE_N)
    harness = Harness(args, import_waiting_code(), ids)
    harness.run(CHILD_SCENARIOS[args.child])
    Path(args.out).write_text(json.dumps(harness.report(startup_cpu, nofile_soft)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, LARGE_N])
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs per size; medians are reported")
    parser.add_argument("--provider-sizes", type=int, nargs="*", default=[1000, LARGE_N],
                        help="sizes at which to run the provider's pattern too (10,000 takes many minutes)")
    parser.add_argument("--provider-runs", type=int,
                        help="runs of the provider's pattern (default: --runs below N = 10,000, 1 from there)")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS),
                        help="run only these scenarios (default: all four)")
    # 7.5 s sits between the schedule's polls (0, 2, 5, 9.5 s), so every scenario makes the
    # same four polls even when a burst delays some of them by a second.
    parser.add_argument("--running-seconds", type=float, default=7.5)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--max-poll-interval", type=float, default=4.0)
    parser.add_argument("--no-scale-intervals", dest="scale_intervals", action="store_false",
                        help="use the same intervals at every N (saturates two cores at N = 10,000)")
    parser.add_argument("--profile", help="write a cProfile of each N-wait run to this path prefix")
    parser.add_argument("--child", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--ids-file", help=argparse.SUPPRESS)
    parser.add_argument("--warmup-id", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.runs < 1 or (args.provider_runs is not None and args.provider_runs < 0):
        parser.error("--runs must be at least 1 and --provider-runs at least 0")
    sys.exit(parent(args))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "scripts"))
    from process_sweep import run_leaving_nothing

    sys.exit(run_leaving_nothing(main))
