"""How the emulator plays each operation of the registry, keyed by the operation's spec.

The registry (:mod:`airflow_querystatus.status`) says what an operation *is*: its calls, its
identifiers and its states. This module says how the emulator *plays* it: the script its
queries follow, what a stop does, what a failure looks like, its results pages and the members
every answer carries. It lives with the emulator so that the registry stays schema and
declarations, and a DAG that imports a sensor never loads the emulator's fixtures. How an
operation's calls are routed and checked is not declared here: it comes from botocore's model
of the service (its protocol, routes and shapes; the wire protocol modules). What neither that
model nor the spec can say is answered by a quirk, declared with the answers it gives
(:data:`.neptune.QUIRKS`): this module stays below every module that answers from it, so the
emulator's modules import each other in one direction only. A mistake fails at import, naming
the spec (:func:`build_catalogue`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_querystatus import status
from airflow_querystatus.emulator.wire import iso
from airflow_querystatus.status import SPECS, RegistryError, StatusSpec

#: One step of an emulator script: a state, ``(state, polls)`` or ``{"state", "polls"|"seconds", ...}``.
ScriptStep = str | tuple[str, int] | Mapping[str, Any]
#: One results page: rows ``start`` to ``end`` of a query created at the given UNIX time.
Page = Callable[[float, int, int], dict[str, Any]]
#: Where a cancelled Neptune query goes once its worker thread stops: no longer listed (the last
#: step of its ``stopped`` script; :mod:`.neptune` answers it as an unknown id).
CANCELLED_GONE = "CANCELLED_GONE"


@dataclass(frozen=True)
class Emulated:
    """How :mod:`airflow_querystatus.emulator` plays one operation (its *kind* is the spec's key)."""

    #: The script of a query started through the API.
    steps: tuple[ScriptStep, ...]
    #: Stopping a query in one of these states replaces the rest of its script with ``stopped``.
    stoppable: frozenset[str] = frozenset({"QUEUED", "RUNNING"})
    stopped: tuple[ScriptStep, ...] = ("CANCELED",)
    #: What stopping a query in any other state (one that ended) answers: the error code and its
    #: message, with ``{id}`` and ``{state}``; None: success, and the query stays as it is.
    finished_stop: tuple[str, str] | None = None
    #: What a failed query looks like (tests): ``failure`` as a script, else ``(pending, 1)`` then
    #: ``failure_state`` (by default the only failure state, or ``FAILED``) with ``reason``.
    failure: tuple[ScriptStep, ...] = ()
    failure_state: str | None = None
    reason: str | None = None
    #: The results page builder, for operations with results.
    page: Page | None = None
    #: The script ``make demo`` plays, slow enough to see the wait.
    demo_steps: tuple[ScriptStep, ...] = ()
    #: Former names of this operation in the emulator's API, still accepted.
    aliases: tuple[str, ...] = ()
    #: Members every answer of this kind carries besides its own (Neptune's ``"status": "200 OK"``).
    envelope: Mapping[str, Any] = field(default_factory=dict)
    #: What a call for an unknown id answers: the error code, and its message with ``{}`` for the
    #: id; None: the protocol's usual answer.
    unknown_id: tuple[str, str] | None = None


def success_state(spec: StatusSpec) -> str:
    """The state a successful query of ``spec`` ends in, in scripts that tests and demos write:
    its only success state (else the first by name), so that none of them names it by hand."""
    return sorted(spec.success_states)[0]


def failure_state(spec: StatusSpec) -> str:
    """The state a failed query of ``spec`` ends in, in the emulator's scripts and the tests:
    ``failure_state`` of its :class:`Emulated`, else the only failure state, else ``FAILED``."""
    behaviour = CATALOGUE.get(spec.key)
    if behaviour is not None and behaviour.failure_state is not None:
        return behaviour.failure_state
    return next(iter(spec.failure_states)) if len(spec.failure_states) == 1 else "FAILED"


def build_catalogue(entries: Iterable[tuple[StatusSpec, Emulated]]) -> dict[str, Emulated]:
    """Check every entry against its spec and index them by the spec's key (the emulator's kind);
    raise :class:`~airflow_querystatus.status.RegistryError` naming the spec if one is wrong."""
    catalogue: dict[str, Emulated] = {}
    kinds: dict[str, str] = {}
    for spec, behaviour in entries:
        def fail(mistake: str, key: str = spec.key) -> None:
            raise RegistryError(f"StatusSpec {key!r}: {mistake}")

        if SPECS.get(spec.key) is not spec:
            fail("is not the spec the registry declares under that key (SPECS).")
        if spec.key in catalogue:
            fail("is emulated twice.")
        if not behaviour.steps:
            fail("`Emulated.steps` is empty; the emulator needs a default script.")
        wanted = behaviour.failure_state
        if wanted is None and len(spec.failure_states) != 1:
            wanted = "FAILED"
        if wanted is not None and wanted not in spec.failure_states:
            fail(f"`Emulated.failure_state` must name the failure state a failed query ends in (one of "
                 f"{sorted(spec.failure_states)}), got {behaviour.failure_state!r}.")
        for kind in (spec.key, *behaviour.aliases):
            if kind in kinds:
                fail(f"emulator kind {kind!r} is already used by {kinds[kind]!r}.")
            kinds[kind] = spec.key
        catalogue[spec.key] = behaviour
    return catalogue


# ======================================================================================
# What each operation plays
# ======================================================================================

#: The query-state enum Internet Monitor and the Network Flow Monitor families share.
_QUERY_STEPS: tuple[ScriptStep, ...] = (("QUEUED", 1), ("RUNNING", 2), "SUCCEEDED")
_QUERY_DEMO_STEPS: tuple[ScriptStep, ...] = (
    {"state": "QUEUED", "seconds": 2}, {"state": "RUNNING", "seconds": 6}, "SUCCEEDED")


def _top_contributors(_created: float, start: int, end: int) -> dict[str, Any]:
    rows = [{"localIp": f"10.0.0.{i}", "remoteIp": f"10.1.0.{i}", "targetPort": 443, "value": 1000 - i}
            for i in range(start, end)]
    return {"unit": "Bytes", "topContributors": rows}


def _workload_insights_datapoints(created: float, start: int, end: int) -> dict[str, Any]:
    return {"unit": "Bytes", "datapoints": [
        {"timestamps": [iso(created)], "values": [float(100 - i)], "label": f"use1-az{i}"}
        for i in range(start, end)]}


def _internet_monitor_page(_created: float, start: int, end: int) -> dict[str, Any]:
    return {
        "Fields": [{"Name": "city", "Type": "string"}, {"Name": "availability_score", "Type": "float"}],
        "Data": [[f"city-{i}", f"{99 - i * 0.5:.1f}"] for i in range(start, end)],
    }


def _logs_insights_page(created: float, start: int, end: int) -> dict[str, Any]:
    return {
        "results": [[{"field": "@timestamp", "value": iso(created - i)},
                     {"field": "@message", "value": f"ERROR {i}"}, {"field": "@ptr", "value": f"p{i}"}]
                    for i in range(start, end)],
        "statistics": {"recordsMatched": float(end), "recordsScanned": end * 100.0, "bytesScanned": end * 1e4},
    }


def _query(alias: str, page: Page) -> Emulated:
    """Internet Monitor's and Network Flow Monitor's queries: QUEUED, RUNNING, SUCCEEDED."""
    return Emulated(aliases=(alias,), steps=_QUERY_STEPS, demo_steps=_QUERY_DEMO_STEPS, page=page)


def _neptune_query(language: str) -> Emulated:
    """A Neptune query language: listed while it runs, then gone (``FinishedQueriesVanish``)."""
    return Emulated(
        aliases=(f"neptune_{language}",),
        unknown_id=("InvalidParameterException", "Supplied queryId {} is invalid"),
        steps=({"state": "RUNNING", "seconds": 1.0}, "FINISHED"),
        stoppable=frozenset({"RUNNING", "CANCELLED", "WAITING"}),
        # Listed as cancelled briefly, then gone, as the worker thread stops.
        stopped=({"state": "CANCELLED", "seconds": 0.3}, CANCELLED_GONE),
        failure=(("RUNNING", 1), ("CANCELLED", 5), CANCELLED_GONE),
        demo_steps=({"state": "RUNNING", "seconds": 3}, "FINISHED"),
    )


_LOAD_PENDING = status.NEPTUNE_LOADER_JOB.pending_states

#: Every emulated operation by its spec's key.
CATALOGUE: dict[str, Emulated] = build_catalogue((
    (status.INTERNET_MONITOR_QUERY, _query("internet_monitor", _internet_monitor_page)),
    (status.NETWORK_FLOW_MONITOR_TOP_CONTRIBUTORS_QUERY,
     _query("network_flow_monitor_top_contributors", _top_contributors)),
    (status.NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_DATA_QUERY,
     _query("network_flow_monitor_workload_insights_data", _workload_insights_datapoints)),
    (status.NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_QUERY,
     _query("network_flow_monitor_workload_insights", _top_contributors)),
    (status.NEPTUNE_OPEN_CYPHER_QUERY, _neptune_query("open_cypher")),
    (status.NEPTUNE_GREMLIN_QUERY, _neptune_query("gremlin")),
    (status.NEPTUNE_LOADER_JOB, Emulated(
        envelope={"status": "200 OK"}, failure_state="LOAD_FAILED",
        steps=(("LOAD_IN_QUEUE", 1), ("LOAD_IN_PROGRESS", 2), "LOAD_COMPLETED"),
        stoppable=_LOAD_PENDING, stopped=("LOAD_CANCELLED_BY_USER",),
        unknown_id=("BulkLoadIdNotFoundException", "Load id {} was not found"),
    )),
    (status.ATHENA_CALCULATION_EXECUTION, Emulated(
        aliases=("athena_calculation",),
        steps=(("CREATED", 1), {"state": "RUNNING", "polls": 2, "progress": "50%"}, "COMPLETED"),
        stoppable=frozenset({"CREATING", "CREATED", "QUEUED", "RUNNING"}),
        stopped=({"state": "CANCELING", "polls": 1}, "CANCELED"),
        reason="Py4JJavaError: division by zero",
        demo_steps=({"state": "CREATED", "seconds": 1}, {"state": "RUNNING", "seconds": 7, "progress": "2/3 stages"},
                    "COMPLETED"),
    )),
    (status.LOGS_INSIGHTS_QUERY, Emulated(
        failure_state="Failed", steps=(("Scheduled", 1), ("Running", 2), "Complete"),
        stoppable=frozenset({"Scheduled", "Running", "Unknown"}), stopped=("Cancelled",),
        # REFERENCE.md section 7: stopping a finished query is an error (the wording is the emulator's).
        finished_stop=("InvalidParameterException", "Query {id} is {state}: only a running query can be stopped."),
        demo_steps=({"state": "Scheduled", "seconds": 1}, {"state": "Running", "seconds": 6}, "Complete"),
        page=_logs_insights_page,
    )),
))


def emulated_specs() -> list[StatusSpec]:
    """The registry's specs that the emulator plays, in the registry's order."""
    return [spec for spec in SPECS.values() if spec.key in CATALOGUE]
