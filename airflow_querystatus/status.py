"""The one table of what differs between the supported AWS status operations.

Everything else (the polling engine, hooks, triggers, sensors) is written once against
:class:`StatusSpec`. Adding an operation means adding one entry to :data:`SPECS` plus a
thin named sensor and trigger class.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Synthetic state names for Neptune, whose status API has no state field (REFERENCE.md §4).
NEPTUNE_RUNNING = "RUNNING"
NEPTUNE_CANCELLED = "CANCELLED"
NEPTUNE_FINISHED = "FINISHED"


@dataclass(frozen=True)
class Identifier:
    """One identifier argument: its Python name, its API name and the model's constraints."""

    name: str
    api_name: str
    max_length: int | None = None
    pattern: str | None = None

    def validate(self, value: object, *, owner: str) -> str:
        """Return ``value`` if the service model would accept it; raise ``ValueError`` if not.

        Checked before any AWS call so that a typo fails at once with the argument's name,
        not minutes later as an opaque 400 from AWS.
        """
        if not isinstance(value, str):
            raise ValueError(
                f"{owner}: `{self.name}` must be a non-empty string, got {type(value).__name__} {value!r}."
            )
        if not value.strip():
            raise ValueError(f"{owner}: `{self.name}` must be a non-empty string, got {value!r}.")
        if "{{" in value or "{%" in value:
            raise ValueError(
                f"{owner}: `{self.name}` still contains an unrendered Jinja template ({value!r}); "
                "check that the argument is spelled as a template field and that the value it "
                "refers to exists."
            )
        if self.max_length is not None and len(value) > self.max_length:
            raise ValueError(
                f"{owner}: `{self.name}` is {len(value)} characters long; "
                f"AWS accepts at most {self.max_length}."
            )
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise ValueError(
                f"{owner}: `{self.name}`={value!r} does not match the pattern {self.pattern!r} "
                "that AWS requires."
            )
        return value


@dataclass(frozen=True)
class Extra:
    """An argument only some operations take (sensor, trigger and operator alike)."""

    name: str
    default: Any = None
    #: Rendered by Jinja (a template field of the sensor and operator, and of the trigger).
    templated: bool = False
    #: A connection argument: passed to the hook and part of the shared client's key.
    connection: bool = False


def _path_getter(*path: str) -> Callable[[Mapping[str, Any]], Any]:
    def get(response: Mapping[str, Any]) -> Any:
        node: Any = response
        for key in path:
            if not isinstance(node, Mapping):
                return None
            node = node.get(key)
        return node

    get.__doc__ = ".".join(path)
    return get


def _neptune_state(response: Mapping[str, Any]) -> str:
    """A 200 answer means the query is still listed; ``cancelled`` means it is being stopped."""
    stats = response.get("queryEvalStats")
    if isinstance(stats, Mapping) and stats.get("cancelled") is True:
        return NEPTUNE_CANCELLED
    return NEPTUNE_RUNNING


@dataclass(frozen=True)
class StatusSpec:
    """What one AWS status operation looks like to the polling engine."""

    key: str
    #: Human name used in log lines and error messages.
    title: str
    #: boto3 client name and method name of the status call.
    service: str
    operation: str
    identifiers: tuple[Identifier, ...]
    #: Reads the state out of a successful answer; ``None`` means the answer had none.
    read_state: Callable[[Mapping[str, Any]], Any]
    success_states: frozenset[str]
    failure_states: frozenset[str]
    pending_states: frozenset[str]
    #: Where AWS explains a state (logged on change, quoted in failure messages).
    read_reason: Callable[[Mapping[str, Any]], Any] = field(default=lambda _response: None)
    #: Progress figures worth logging with each state change.
    progress: Mapping[str, Callable[[Mapping[str, Any]], Any]] = field(default_factory=dict)
    #: Error codes meaning the id is not (yet) known: given a short grace period, since a
    #: just-started query may not be visible everywhere yet.
    not_found_codes: frozenset[str] = frozenset({"ResourceNotFoundException"})
    #: Error codes meaning "this query is no longer listed", which for Neptune is how a
    #: finished query looks (REFERENCE.md §4). Empty for services with a real state.
    vanished_codes: frozenset[str] = frozenset()
    #: The state reported when a listed query vanished after it was seen.
    vanished_state: str = NEPTUNE_FINISHED
    #: The boto3 method that stops the query (same parameters as the status call); an
    #: operator calls it on kill, timeout or failure after it started the query.
    stop_operation: str | None = None
    #: Arguments only this operation takes, in its sensor, trigger and operator.
    extras: tuple[Extra, ...] = ()

    def api_params(self, values: Mapping[str, str]) -> dict[str, str]:
        """Map identifier arguments to the status call's API parameters."""
        return {ident.api_name: values[ident.name] for ident in self.identifiers}

    def validate(self, values: Mapping[str, object], *, owner: str) -> dict[str, str]:
        """Validate every identifier (see :meth:`Identifier.validate`)."""
        return {ident.name: ident.validate(values.get(ident.name), owner=owner) for ident in self.identifiers}

    def describe(self, values: Mapping[str, object]) -> str:
        """``Athena calculation execution (calculation_execution_id='...')`` for messages."""
        ids = ", ".join(f"{ident.name}={values.get(ident.name)!r}" for ident in self.identifiers)
        return f"{self.title} ({ids})"

    @property
    def iam_action(self) -> str:
        """The IAM action a caller needs, for AccessDenied messages."""
        if self.service == "neptunedata":
            return "neptune-db:GetQueryStatus"
        return f"{self.service}:{''.join(part.title() for part in self.operation.split('_'))}"


#: The query-state enum Internet Monitor and both Network Flow Monitor families share.
_QUERY_SUCCESS = frozenset({"SUCCEEDED"})
_QUERY_FAILURE = frozenset({"FAILED", "CANCELED"})
_QUERY_PENDING = frozenset({"QUEUED", "RUNNING"})


def _resource_name(name: str, api_name: str) -> Identifier:
    """The ResourceName shape that Internet Monitor and Network Flow Monitor share."""
    return Identifier(name, api_name, max_length=255, pattern=r"[a-zA-Z0-9_.-]+")


INTERNET_MONITOR_QUERY = StatusSpec(
    key="internet_monitor_query",
    title="Internet Monitor query",
    service="internetmonitor",
    operation="get_query_status",
    stop_operation="stop_query",
    identifiers=(
        _resource_name("monitor_name", "MonitorName"),
        Identifier("query_id", "QueryId"),
    ),
    read_state=_path_getter("Status"),
    success_states=_QUERY_SUCCESS,
    failure_states=_QUERY_FAILURE,
    pending_states=_QUERY_PENDING,
)

NETWORK_FLOW_MONITOR_TOP_CONTRIBUTORS_QUERY = StatusSpec(
    key="network_flow_monitor_top_contributors_query",
    title="Network Flow Monitor top-contributors query",
    service="networkflowmonitor",
    operation="get_query_status_monitor_top_contributors",
    stop_operation="stop_query_monitor_top_contributors",
    identifiers=(
        _resource_name("monitor_name", "monitorName"),
        Identifier("query_id", "queryId"),
    ),
    read_state=_path_getter("status"),
    success_states=_QUERY_SUCCESS,
    failure_states=_QUERY_FAILURE,
    pending_states=_QUERY_PENDING,
)

NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_DATA_QUERY = StatusSpec(
    key="network_flow_monitor_workload_insights_top_contributors_data_query",
    title="Network Flow Monitor workload-insights top-contributors data query",
    service="networkflowmonitor",
    operation="get_query_status_workload_insights_top_contributors_data",
    stop_operation="stop_query_workload_insights_top_contributors_data",
    identifiers=(
        Identifier("scope_id", "scopeId"),
        Identifier("query_id", "queryId"),
    ),
    read_state=_path_getter("status"),
    success_states=_QUERY_SUCCESS,
    failure_states=_QUERY_FAILURE,
    pending_states=_QUERY_PENDING,
)

NEPTUNE_OPEN_CYPHER_QUERY = StatusSpec(
    key="neptune_open_cypher_query",
    title="Neptune openCypher query",
    service="neptunedata",
    operation="get_open_cypher_query_status",
    stop_operation="cancel_open_cypher_query",
    identifiers=(Identifier("query_id", "queryId"),),
    read_state=_neptune_state,
    success_states=frozenset({NEPTUNE_FINISHED}),
    failure_states=frozenset({NEPTUNE_CANCELLED}),
    pending_states=frozenset({NEPTUNE_RUNNING}),
    progress={
        "elapsed_ms": _path_getter("queryEvalStats", "elapsed"),
        "waited_ms": _path_getter("queryEvalStats", "waited"),
    },
    vanished_codes=frozenset({"InvalidParameterException"}),
    extras=(Extra("endpoint_url", templated=True, connection=True), Extra("fail_on_unknown_query_id", False)),
)

ATHENA_CALCULATION_EXECUTION = StatusSpec(
    key="athena_calculation_execution",
    title="Athena calculation execution",
    service="athena",
    operation="get_calculation_execution_status",
    stop_operation="stop_calculation_execution",
    identifiers=(Identifier("calculation_execution_id", "CalculationExecutionId", max_length=36),),
    read_state=_path_getter("Status", "State"),
    success_states=frozenset({"COMPLETED"}),
    failure_states=frozenset({"FAILED", "CANCELED"}),
    pending_states=frozenset({"CREATING", "CREATED", "QUEUED", "RUNNING", "CANCELING"}),
    read_reason=_path_getter("Status", "StateChangeReason"),
    progress={
        "progress": _path_getter("Statistics", "Progress"),
        "dpu_execution_ms": _path_getter("Statistics", "DpuExecutionInMillis"),
    },
)

SPECS: dict[str, StatusSpec] = {
    spec.key: spec
    for spec in (
        INTERNET_MONITOR_QUERY,
        NETWORK_FLOW_MONITOR_TOP_CONTRIBUTORS_QUERY,
        NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_DATA_QUERY,
        NEPTUNE_OPEN_CYPHER_QUERY,
        ATHENA_CALCULATION_EXECUTION,
    )
}
