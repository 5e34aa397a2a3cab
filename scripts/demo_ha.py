"""``make demo-ha``: every example pipeline on a production-shaped Airflow, and one triggerer
killed (``kill -9``) while the pipelines wait.

Starts PostgreSQL, the emulator, the api-server (webserver on 2.11), scheduler, dag-processor
and TWO triggerers with the high-availability settings (``AirflowStack(ha=True)``: a
triggerer silent for 10 s loses its triggers). It triggers the five pipelines in ``dags/``;
the emulator holds every query they wait on RUNNING. Once all their waits are deferred and
polling, it ``kill -9``s the triggerer holding the most triggers and measures, from the
trigger table, how long until every trigger it held runs on the other triggerer (and has
polled again). Then it lets the queries finish, waits for every run, and prints each task's
final state, its deferred time and the failover time. Exits 0 only if every pipeline ends
as expected (``example_athena_spark_failing`` fails on purpose) and the failover completed.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from airflow_stack import AIRFLOW_3, ROOT, AirflowStack, RunWatcher, wait_until
from demo import DAGS, report
from process_sweep import run_leaving_nothing

from airflow_querystatus.emulator.catalogue import CATALOGUE, ScriptStep, emulated_specs, success_state
from airflow_querystatus.emulator.examples import EXAMPLES
from airflow_querystatus.emulator.model import SCRIPT_DIRECTIVE, resolve_kind
from airflow_querystatus.status import StatusSpec

#: The deferrable waits of the example pipelines (their operators and sensors).
WAITS = {
    "example_internet_monitor": ("run_measurements_query", "wait_top_locations_query"),
    "example_network_flow_monitor": ("top_talkers_by_bytes", "workload_timeouts", "wait_retransmissions_query"),
    "example_neptune": ("wait_for_graph_load",),
    "example_athena_spark": ("count_rows", "wait_write_calculation"),
}
#: The state each kind of query ends in when it succeeds (what a released query reports).
FINAL = {spec.key: success_state(spec) for spec in emulated_specs()}
#: The text of the graph loads the Neptune examples wait on (their ``Example.plant``).
GRAPH_LOAD = "// nightly-graph-load"
FAILOVER_LIMIT = 60.0


def held(steps: Sequence[ScriptStep]) -> list[ScriptStep]:
    """``steps`` up to their last pending state, which is then held (no polls or seconds) until
    released: ``[{"state": "QUEUED", "seconds": 2}, {"state": "RUNNING", "seconds": 6}, "SUCCEEDED"]``
    becomes ``[{"state": "QUEUED", "seconds": 2}, "RUNNING"]``."""
    *leading, last = steps[:-1]
    if isinstance(last, Mapping):
        rest = {k: v for k, v in last.items() if k not in ("polls", "seconds")}
        return [*leading, rest if set(rest) != {"state"} else rest["state"]]
    return [*leading, last if isinstance(last, str) else last[0]]


def held_script(spec: StatusSpec) -> list[ScriptStep]:
    """What the pipelines' queries of ``spec`` play: the demo's script (else the default one),
    held in its last pending state. A query whose status API forgets it once finished (Neptune's
    query languages) is run synchronously by its operator on a worker, not deferred: it plays
    the demo's script and ends by itself."""
    behaviour = CATALOGUE[spec.key]
    steps = list(behaviour.demo_steps or behaviour.steps)
    return steps if spec.vanishes else held(steps)


def plant_held_scripts(stack: AirflowStack) -> None:
    """Queries the pipelines start run until released (see :func:`release`), so every wait is
    still deferred when the triggerer dies, whatever the machine's speed."""
    for spec in emulated_specs():
        stack.emulator_call("PUT", f"/_emulator/defaults/{spec.key}", {"steps": held_script(spec)})


def plant_examples_held(stack: AirflowStack) -> None:
    """What the examples need (the emulator started without it): the log groups they query, and
    someone else's graph loads, which the Neptune sensors wait on, running until released."""
    for example in EXAMPLES.values():
        for name in example.log_groups:
            stack.emulator_call("POST", "/_emulator/log-groups", {"name": name})
    planted = [{"kind": key, "text": example.plant["text"], "steps": held(example.plant["steps"]),
                **({"identifiers": example.plant["identifiers"]} if "identifiers" in example.plant else {})}
               for key, example in EXAMPLES.items() if example.plant is not None]
    stack.emulator_call("POST", "/_emulator/queries", {"queries": planted})


def release(stack: AirflowStack, queries: Iterable[tuple[str, str, dict[str, str]]]) -> int:
    """Let held queries finish: each ``(kind, query_id, identifiers)`` is planted again under
    its id with its kind's final state, which its next status call reports. Returns how many."""
    specs = [{"kind": kind, "query_id": query_id, "identifiers": identifiers, "steps": [FINAL[resolve_kind(kind)]]}
             for kind, query_id, identifiers in queries]
    if specs:
        stack.emulator_call("POST", "/_emulator/queries", {"queries": specs})
    return len(specs)


def held_queries(stack: AirflowStack) -> list[tuple[str, dict]]:
    """The example pipelines' queries that are held in a pending state: not those whose text
    carries its own script (``example_athena_spark_failing``), and, of the kinds whose operators
    run synchronously (:func:`held_script`), only the graph loads."""
    held = []
    for spec in emulated_specs():
        scripted = {q["query_id"] for q in stack.emulator_queries(spec.key, SCRIPT_DIRECTIVE)}
        for query in stack.emulator_queries(spec.key, GRAPH_LOAD if spec.vanishes else None):
            if query["query_id"] not in scripted and query["state"] in spec.pending_states:
                held.append((spec.key, query))
    return held


def main() -> int:
    home = ROOT / ".airflow-demo" / "ha"  # ignored by git, like the plain demo's home
    shutil.rmtree(home, ignore_errors=True)
    started = time.time()
    web = "api-server" if AIRFLOW_3 else "webserver"
    processes = f"PostgreSQL, {web}, scheduler, {'dag-processor, ' if AIRFLOW_3 else ''}two triggerers"
    print(f"Starting the emulator and Airflow ({processes})...", flush=True)
    # Its own graph loads run until released (plant_examples_held): none of the emulator's.
    stack = AirflowStack(home=home, database="postgres", ha=True, emulator_args=("--no-examples",))
    try:
        stack.start(triggerers=2)
        stack.wait_for_emulator()
        plant_held_scripts(stack)
        stack.wait_until_parsed(DAGS)
        for name in ("triggerer-1", "triggerer-2"):
            stack.wait_for_triggerer(name)
        print(f"Airflow is up after {time.time() - started:.0f}s; triggering {len(DAGS)} pipelines.", flush=True)
        plant_examples_held(stack)
        with RunWatcher(stack) as watcher:
            runs = {watcher.watch(stack.trigger(dag_id)): dag_id for dag_id in DAGS}
            failover = kill_a_triggerer(stack, runs)
            released = release(stack, ((kind, q["query_id"], q["identifiers"]) for kind, q in held_queries(stack)))
            print(f"Released {released} queries; waiting for every pipeline to end.", flush=True)
            stack.wait_for_runs(runs, timeout=600)
            times = {run_id: watcher.tasks(run_id) for run_id in runs}
        ok = report(stack, runs, times)
        ok &= failover is not None
        print()
        if failover is not None:
            print(f"Failover: {failover['victim']} killed with {failover['moved']} triggers; every one of them ran "
                  f"on {failover['to']} {failover['failover_s']:.1f}s after the kill (first after "
                  f"{failover['first_s']:.1f}s; its last heartbeat was {failover['last_heartbeat_before_kill_s']:.1f}s "
                  f"old at the kill, the threshold is {failover['threshold_s']}s) and had polled its query again "
                  f"{failover['polled_again_s']:.1f}s after it. Queries stopped: {failover['stop_calls']}.")
        print(json.dumps({"demo_ha": failover}))
        print(f"\nDemo finished in {time.time() - started:.0f}s; logs in {home}.")
        return 0 if ok else 1
    finally:
        stack.stop()


def kill_a_triggerer(stack: AirflowStack, runs: dict[str, str]) -> dict | None:
    """Once every wait is deferred and polling, ``kill -9`` the triggerer holding the most
    triggers; return the failover figures (None, reported, if it did not complete)."""
    wanted = {(dag_id, task_id) for dag_id, tasks in WAITS.items() for task_id in tasks}

    def all_waiting() -> bool:
        held = {(row.dag_id, row.task_id) for row in stack.triggers(runs) if row.triggerer is not None}
        ended = [runs[r] for r in runs if stack.run_state(r) in {"success", "failed"} and DAGS[runs[r]] == "success"]
        if ended:
            raise RuntimeError(f"pipelines ended before their waits were all deferred: {ended}")
        return wanted <= held and all(q["status_calls"] for _, q in held_queries(stack))

    wait_until(all_waiting, 300, "every wait deferred, held by a triggerer and polling", interval=0.5)
    rows = [row for row in stack.triggers(runs) if row.triggerer is not None]
    counts = {name: sum(1 for row in rows if row.triggerer == name) for name in ("triggerer-1", "triggerer-2")}
    victim = max(counts, key=lambda name: counts[name])
    survivor = next(name for name in counts if name != victim)
    held = {row.trigger_id: row for row in rows if row.triggerer == victim}
    polls_before = {q["query_id"]: q["status_calls"] for _, q in held_queries(stack)}
    print(f"Every wait is deferred: {', '.join(f'{n} runs {c}' for n, c in counts.items())} triggers. "
          f"kill -9 {victim}.", flush=True)
    beat_age = stack.triggerer_heartbeat_age(victim) or 0.0
    killed_at = time.time()
    stack.signal_process(victim, signal.SIGKILL)
    try:
        moved = stack.wait_for_failover(held, away_from=victim, since=killed_at, timeout=FAILOVER_LIMIT)
    except TimeoutError as err:
        print(f"FAILOVER INCOMPLETE: {err}", flush=True)
        return None
    for trigger_id, (holder, seconds) in sorted(moved.items(), key=lambda item: item[1][1]):
        row = held[trigger_id]
        print(f"  {row.dag_id}.{row.task_id}: on {holder or '(fired)'} {seconds:.1f}s after the kill", flush=True)

    def polled_again() -> bool:
        now = {q["query_id"]: q["status_calls"] for _, q in held_queries(stack)}
        return all(now.get(query_id, calls + 1) > calls for query_id, calls in polls_before.items())

    wait_until(polled_again, 30, "every held query polled again after the failover")
    return {
        "victim": victim,
        "to": survivor,
        "moved": len(moved),
        "failover_s": round(max(seconds for _, seconds in moved.values()), 1),
        "first_s": round(min(seconds for _, seconds in moved.values()), 1),
        "polled_again_s": round(time.time() - killed_at, 1),
        "last_heartbeat_before_kill_s": round(beat_age, 1),
        "threshold_s": stack.env()["AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD"],
        "stop_calls": sum(stack.stop_calls().values()),
    }


if __name__ == "__main__":
    sys.exit(run_leaving_nothing(main))
