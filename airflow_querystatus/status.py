"""The registry: every supported AWS status operation, declared once.

Each operation is one :class:`StatusSpec` below (what its status call looks like, its start,
results and stop operations, its quirks), and each AWS service one :class:`Service` (its hook
and provider integration). Everything else is derived from :data:`SPECS` and :data:`SERVICES`:
the provider info, the hook lookup, the front doors, the emulator's routes, the test cases and
the demo's list of pipelines. This module is the schema, its checks and the declarations only:
how the emulator plays each operation, and its example pipelines, are kept by the emulator,
keyed by the spec (:mod:`airflow_querystatus.emulator.catalogue`, ``.examples``). A mistake in
a declaration fails at import time with a message naming it (:func:`build_registry`).

CONTRIBUTING.md ("Adding an operation") walks through one declaration.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_querystatus.outcomes import Outcome, Verdict

#: Synthetic state names for Neptune, whose status API has no state field (REFERENCE.md §4).
NEPTUNE_RUNNING = "RUNNING"
NEPTUNE_CANCELLED = "CANCELLED"
NEPTUNE_FINISHED = "FINISHED"


#: What a missing value renders to: Python's None (a template pulling a missing XCom), JSON's null,
#: or nothing at all. No AWS id is one of these; sending it would only fail later, less clearly.
_MISSING_RENDERINGS = frozenset({"", "None", "null"})


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
        not minutes later as an opaque 400 from AWS, and a value that rendered from nothing
        (``None``, ``'None'``, ``'null'``, blank) says that its XCom or param was missing.
        """
        if value is None or (isinstance(value, str) and value.strip() in _MISSING_RENDERINGS):
            raise ValueError(
                f"{owner}: `{self.name}` must be a non-empty string, got {value!r}: the upstream XCom or param "
                "it is rendered from was probably missing (a template that pulls a missing XCom renders to "
                "'None'). Check that the upstream task ran and returned or pushed the id under that key."
            )
        if not isinstance(value, str):
            raise ValueError(
                f"{owner}: `{self.name}` must be a non-empty string, got {type(value).__name__} {value!r}."
            )
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


@dataclass(frozen=True)
class FinishedQueriesVanish:
    """Quirk: the status API lists only running queries, so a finished query vanishes.

    A status call for an id that is no longer listed fails with one of ``codes``. An id seen
    running that vanishes has finished (``state``; the API does not say how it ended); an id
    never seen is taken as finished too, with a warning, unless the wait's
    ``fail_on_unknown_query_id`` is set (a fast query can end before the first poll).
    """

    codes: frozenset[str]
    #: Who does not report the outcome, for log lines ("Neptune").
    reporter: str
    #: What to check when an unknown id fails the wait.
    unknown_hint: str
    state: str = "FINISHED"
    extras: tuple[Extra, ...] = (Extra("fail_on_unknown_query_id", False),)

    def verdict(self, *, subject: str, api_ids: Mapping[str, str], seen_running: bool, strict: bool,
                detail: str, last_answer: dict[str, Any] | None, log: Any) -> Verdict:
        """The verdict when the status call says the id is not (or no longer) listed.

        The status API has nothing to say about a finished query, so the XCom is built here:
        the ids, the synthetic state and the last listing seen (if any). ``strict`` is the
        wait's ``fail_on_unknown_query_id``."""
        finished = {**api_ids, "state": self.state, "outcomeReported": False, "lastStatus": last_answer}
        if seen_running:
            log.info("%s is no longer listed: it finished. %s does not report whether a finished query "
                     "succeeded; only the client that ran it receives the outcome.", subject, self.reporter)
            return Verdict(Outcome.SUCCESS, self.state,
                           f"{subject} finished (outcome not reported by {self.reporter}).", finished)
        if strict:
            return Verdict(
                Outcome.ERROR, None,
                f"{subject} was never seen running and {self.reporter} does not know it ({detail}). "
                f"{self.unknown_hint}; set fail_on_unknown_query_id=False to treat an unknown id as finished.",
                last_answer,
            )
        log.warning("%s was never seen running and %s does not list it (%s): assuming it already finished. "
                    "If the id may be wrong, set fail_on_unknown_query_id=True.", subject, self.reporter, detail)
        return Verdict(Outcome.SUCCESS, self.state, f"{subject} not listed; assumed finished.", finished)


@dataclass(frozen=True)
class EndpointArgument:
    """Quirk: extra connection argument, the endpoint (e.g. Neptune's cluster or instance
    endpoint; no regional endpoint serves the API). It overrides the connection's own."""

    extras: tuple[Extra, ...] = (Extra("endpoint_url", templated=True, connection=True),)


@dataclass(frozen=True)
class StatusListing:
    """A list call that answers the status of many waits at once (:mod:`airflow_querystatus.status_lists`).

    AWS meters each API per account: a thousand waits polling their own status call need a
    thousand calls per interval, one list call a page per round. Each entry of the list must
    have the shape of the status answer (the spec's ``read_state`` reads it) and name its query
    by the member of the spec's last identifier (``queryId``). An entry in a pending state
    answers a poll; an entry in a final state ends the wait only if ``final_answers`` (the
    entry then stands for the status answer, with what it lacks said in the README); a query
    absent from the list, or listed in any other state, is polled with its own status call.
    """

    #: The boto3 method, and the answer's member that holds the entries.
    operation: str
    items: str
    #: Constant inputs of every call (a page size, Neptune's ``includeWaiting``).
    inputs: Mapping[str, Any] = field(default_factory=dict)
    #: The member that pages (the same name in the request and the answer); None: one page.
    next_token: str | None = None
    #: The input that sets the page size, halved after an answer over ``max_answer_bytes``.
    page_size: str | None = None
    #: Whether an entry's final state is the wait's final answer.
    final_answers: bool = False


#: What an operation may declare in ``StatusSpec.quirks``.
Quirk = FinishedQueriesVanish | EndpointArgument


def _path_getter(*path: str) -> Callable[[Mapping[str, Any]], Any]:
    def get(response: Mapping[str, Any]) -> Any:
        node: Any = response
        for key in path:
            if not isinstance(node, Mapping):
                return None
            node = node.get(key)
        return node

    get.__doc__ = ".".join(path)
    get.path = path  # type: ignore[attr-defined]  # for tests against the service model
    return get


def _neptune_state(response: Mapping[str, Any]) -> str:
    """A 200 answer means the query is still listed; ``cancelled`` means it is being stopped."""
    stats = response.get("queryEvalStats")
    if isinstance(stats, Mapping) and stats.get("cancelled") is True:
        return NEPTUNE_CANCELLED
    return NEPTUNE_RUNNING


@dataclass(frozen=True)
class Service:
    """One AWS service: its boto3 client, its provider modules and its hook."""

    client: str
    #: ``airflow_querystatus.{hooks,sensors,triggers,operators}.<module>``.
    module: str
    integration: str
    hook: str


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
    #: Every state AWS documents, where botocore's model has no enum for it (the state lives in a
    #: ``Document``, which the model leaves unshaped): the states above must cover them.
    documented_states: frozenset[str] = frozenset()
    #: Where AWS explains a state (logged on change, quoted in failure messages).
    read_reason: Callable[[Mapping[str, Any]], Any] = field(default=lambda _response: None)
    #: Progress figures worth logging with each state change.
    progress: Mapping[str, Callable[[Mapping[str, Any]], Any]] = field(default_factory=dict)
    #: Members of the status answer left out of what sensors and triggers return, log and put in
    #: their events (e.g. the result rows, when the status call is also the results call): the
    #: task's XCom and the trigger event stay small however big the answer. An operator reads
    #: them with its ``results_operation``.
    omitted_members: frozenset[str] = frozenset()
    #: Constant inputs of every status call besides the identifiers: where the status answer also
    #: carries the results, a page size of one keeps each poll a few hundred bytes however many
    #: rows the query found (the status answer's cap, ``[querystatus] max_answer_bytes``, stays
    #: far away); the operator reads the rows with its own results calls.
    status_call_inputs: Mapping[str, Any] = field(default_factory=dict)
    #: Error codes meaning the id is not (yet) known: given a short grace period, since a
    #: just-started query may not be visible everywhere yet.
    not_found_codes: frozenset[str] = frozenset({"ResourceNotFoundException"})
    #: What is odd about this operation, each quirk in one declared place (see ``Quirk``).
    quirks: tuple[Quirk, ...] = ()
    #: The IAM action of the status call, where it is not ``service:OperationName``.
    iam_action_name: str | None = None
    #: The boto3 method that stops the query (same parameters as the status call); an
    #: operator calls it on kill, timeout or failure after it started the query.
    stop_operation: str | None = None
    #: Arguments only this operation takes, beyond those its quirks bring.
    arguments: tuple[Extra, ...] = ()
    #: boto3 methods the operator uses: start the query, read its results, list running ones.
    start_operation: str | None = None
    results_operation: str | None = None
    list_operation: str | None = None
    #: The list call that answers many waits' polls at once, where AWS has one.
    listing: StatusListing | None = None
    #: Where the start call's answer carries the query's id; by default in its own member.
    started_id: tuple[str, ...] = ()
    #: The start call's idempotency-token member (Athena's ``ClientRequestToken``): the operator
    #: fills it once per try, so that a start repeated after a 5xx or a timeout cannot start a
    #: second query. Without one, such a start is not repeated (``QueryStartUncertainError``).
    start_token: str | None = None
    #: The start call is safe to repeat without a token (botocore's model marks it idempotent).
    start_idempotent: bool = False
    #: The AWS API reference page of the status call (docs site, provider metadata).
    doc_url: str | None = None

    @property
    def extras(self) -> tuple[Extra, ...]:
        """Arguments only this operation takes (its quirks' and its own), in its sensor,
        trigger and operator, and in the wait contract."""
        return tuple(extra for quirk in self.quirks for extra in quirk.extras) + self.arguments

    @property
    def started_id_path(self) -> tuple[str, ...]:
        """The members, outermost first, that lead to the query's id in the start call's answer."""
        return self.started_id or (self.identifiers[-1].api_name,)

    @property
    def vanishes(self) -> FinishedQueriesVanish | None:
        return next((q for q in self.quirks if isinstance(q, FinishedQueriesVanish)), None)

    @property
    def vanished_codes(self) -> frozenset[str]:
        return self.vanishes.codes if self.vanishes else frozenset()

    def api_params(self, values: Mapping[str, str]) -> dict[str, str]:
        """Map identifier arguments to the API parameters that name the query (status, stop)."""
        return {ident.api_name: values[ident.name] for ident in self.identifiers}

    def status_params(self, values: Mapping[str, str]) -> dict[str, Any]:
        """The status call's parameters: the identifiers and :attr:`status_call_inputs`."""
        return {**self.status_call_inputs, **self.api_params(values)}

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
        if self.iam_action_name:
            return self.iam_action_name
        return self.iam_action_of(self.operation)

    def iam_action_of(self, operation: str) -> str:
        """The IAM action of one of this spec's boto3 methods (start, results, list, stop): the
        status action's prefix (``neptune-db`` for Neptune) with the operation's API name, except
        Neptune's query calls, whose actions are per purpose (REFERENCE.md §4): every cancel is
        ``neptune-db:CancelQuery``, every listing ``neptune-db:GetQueryStatus``, and an execution
        the data action of what the query does (:meth:`iam_actions_of` names all three; this
        names the read)."""
        return self.iam_actions_of(operation)[0]

    def iam_actions_of(self, operation: str) -> tuple[str, ...]:
        """The IAM actions one of this spec's boto3 methods may need: one action, except a
        Neptune query's execution, which needs ``neptune-db:ReadDataViaQuery``,
        ``WriteDataViaQuery`` or ``DeleteDataViaQuery`` by what the query does."""
        if operation == self.operation and self.iam_action_name:
            return (self.iam_action_name,)
        prefix = self.iam_action_name.split(":", 1)[0] if self.iam_action_name else self.service
        if prefix == "neptune-db" and operation.endswith(("_query", "_queries")):
            verb = operation.split("_", 1)[0]
            if verb == "execute":
                return NEPTUNE_QUERY_DATA_ACTIONS
            if verb in _NEPTUNE_QUERY_ACTIONS:
                return (_NEPTUNE_QUERY_ACTIONS[verb],)
        return (f"{prefix}:{''.join(part.title() for part in operation.split('_'))}",)

    @property
    def operator_iam_actions(self) -> tuple[str, ...]:
        """What the operator needs besides the status action (the sensor's only one): the
        actions of its start, results, list and stop calls, in that order, each once."""
        calls = (self.start_operation, self.results_operation, self.list_operation, self.stop_operation)
        actions = [action for call in calls if call for action in self.iam_actions_of(call)]
        return tuple(a for a in dict.fromkeys(actions) if a != self.iam_action)


#: Neptune's query executions need the data action of what the query does (REFERENCE.md §4).
NEPTUNE_QUERY_DATA_ACTIONS = ("neptune-db:ReadDataViaQuery", "neptune-db:WriteDataViaQuery",
                              "neptune-db:DeleteDataViaQuery")
#: Neptune's other query calls, by their boto3 verb: one action per purpose, for every language.
_NEPTUNE_QUERY_ACTIONS = {"cancel": "neptune-db:CancelQuery", "list": "neptune-db:GetQueryStatus"}


class RegistryError(ValueError):
    """A declaration in this module is wrong; the message names the spec and the mistake."""


_SNAKE = re.compile(r"[a-z][a-z0-9_]*")


def _check(spec: StatusSpec, services: Mapping[str, Service]) -> None:
    def fail(mistake: str) -> None:
        raise RegistryError(f"StatusSpec {spec.key!r}: {mistake}")

    if spec.service not in services:
        fail(f"service {spec.service!r} is not declared in SERVICES (declared: {', '.join(services)}).")
    for what in ("operation", "stop_operation", "start_operation", "results_operation", "list_operation"):
        name = getattr(spec, what)
        if name is not None and not _SNAKE.fullmatch(name):
            fail(f"`{what}` must be the boto3 (snake_case) method name, got {name!r}.")
    names = [ident.name for ident in spec.identifiers]
    if not names:
        fail("`identifiers` is empty; the status call needs at least the query's id.")
    if len(set(names)) != len(names) or any(not n.isidentifier() for n in names):
        fail(f"identifier names must be distinct Python names, got {names}.")
    clash = {e.name for e in spec.extras} & set(names)
    if clash:
        fail(f"extras {sorted(clash)} have the names of identifiers.")
    if not spec.success_states:
        fail("`success_states` is empty: the wait could never succeed.")
    for a, b in (("success", "failure"), ("success", "pending"), ("failure", "pending")):
        both = getattr(spec, f"{a}_states") & getattr(spec, f"{b}_states")
        if both:
            fail(f"states {sorted(both)} are both {a} and {b} states.")
    if len({type(q) for q in spec.quirks}) != len(spec.quirks):
        fail("a quirk is declared twice.")
    extra_names = [e.name for e in spec.extras]
    if len(set(extra_names)) != len(extra_names):
        fail(f"extras {extra_names} repeat a name (a quirk brings some of them).")
    if not (spec.doc_url or "").startswith("https://docs.aws.amazon.com/"):
        fail(f"`doc_url` must be the status call's AWS API reference page, got {spec.doc_url!r}.")
    if isinstance(spec.omitted_members, str) or getattr(spec.read_state, "path", ("",))[0] in spec.omitted_members:
        fail(f"`omitted_members` must be a set of member names other than the state's, got {spec.omitted_members!r}.")
    if spec.listing is not None:
        if not _SNAKE.fullmatch(spec.listing.operation):
            fail(f"`listing.operation` must be the boto3 (snake_case) method name, got {spec.listing.operation!r}.")
        if spec.listing.page_size is not None and spec.listing.page_size not in spec.listing.inputs:
            fail(f"`listing.page_size` {spec.listing.page_size!r} must be one of `listing.inputs`.")
    undocumented = spec.documented_states - spec.success_states - spec.failure_states - spec.pending_states
    if undocumented:
        fail(f"documented states {sorted(undocumented)} are neither success, failure nor pending states.")


def build_registry(specs: tuple[StatusSpec, ...], services: Mapping[str, Service]) -> dict[str, StatusSpec]:
    """Check every declaration and index the specs by key; raise :class:`RegistryError` if wrong."""
    registry: dict[str, StatusSpec] = {}
    for spec in specs:
        _check(spec, services)
        if spec.key in registry:
            raise RegistryError(f"StatusSpec {spec.key!r} is declared twice.")
        registry[spec.key] = spec
    return registry


# ======================================================================================
# The services
# ======================================================================================

SERVICES: dict[str, Service] = {
    service.client: service
    for service in (
        Service("internetmonitor", "internet_monitor", "Amazon CloudWatch Internet Monitor", "InternetMonitorHook"),
        Service("networkflowmonitor", "network_flow_monitor", "Amazon CloudWatch Network Flow Monitor",
                "NetworkFlowMonitorHook"),
        Service("neptunedata", "neptune", "Amazon Neptune Data API", "NeptuneDataHook"),
        Service("athena", "athena", "Amazon Athena (Spark calculations)", "AthenaCalculationHook"),
        Service("logs", "logs", "Amazon CloudWatch Logs (Logs Insights)", "CloudWatchLogsInsightsHook"),
    )
}

# ======================================================================================
# The operations
# ======================================================================================

#: The query-state enum Internet Monitor and all Network Flow Monitor families share.
_QUERY_SUCCESS = frozenset({"SUCCEEDED"})
_QUERY_FAILURE = frozenset({"FAILED", "CANCELED"})
_QUERY_PENDING = frozenset({"QUEUED", "RUNNING"})


def _resource_name(name: str, api_name: str) -> Identifier:
    """The ResourceName shape that Internet Monitor and Network Flow Monitor share."""
    return Identifier(name, api_name, max_length=255, pattern=r"[a-zA-Z0-9_.-]+")


#: Neptune's status API lists only running and waiting queries (REFERENCE.md §4).
NEPTUNE_VANISH = FinishedQueriesVanish(
    codes=frozenset({"InvalidParameterException"}),
    reporter="Neptune",
    unknown_hint="Check the query id and that `endpoint_url` is the instance endpoint that runs the query",
    state=NEPTUNE_FINISHED,
)

INTERNET_MONITOR_QUERY = StatusSpec(
    key="internet_monitor_query",
    title="Internet Monitor query",
    service="internetmonitor",
    operation="get_query_status",
    start_operation="start_query",
    results_operation="get_query_results",
    stop_operation="stop_query",
    doc_url="https://docs.aws.amazon.com/internet-monitor/latest/api/API_GetQueryStatus.html",
    identifiers=(
        _resource_name("monitor_name", "MonitorName"),
        Identifier("query_id", "QueryId"),
    ),
    read_state=_path_getter("Status"),
    success_states=_QUERY_SUCCESS,
    failure_states=_QUERY_FAILURE,
    pending_states=_QUERY_PENDING,
)


def _network_flow_monitor_query(family: str, name: str, title: str, scope: Identifier) -> StatusSpec:
    """One Network Flow Monitor query family (``start_query_<family>``, ``get_query_status_<family>``,
    ``get_query_results_<family>``, ``stop_query_<family>``): they share the query-state enum and
    differ in the scope the query runs in (a monitor or a workload-insights scope)."""
    pascal = "".join(part.title() for part in family.split("_"))
    return StatusSpec(
        key=f"network_flow_monitor_{name}_query",
        title=f"Network Flow Monitor {title} query",
        service="networkflowmonitor",
        operation=f"get_query_status_{family}",
        start_operation=f"start_query_{family}",
        results_operation=f"get_query_results_{family}",
        stop_operation=f"stop_query_{family}",
        doc_url=f"https://docs.aws.amazon.com/networkflowmonitor/2.0/APIReference/API_GetQueryStatus{pascal}.html",
        identifiers=(scope, Identifier("query_id", "queryId")),
        read_state=_path_getter("status"),
        success_states=_QUERY_SUCCESS,
        failure_states=_QUERY_FAILURE,
        pending_states=_QUERY_PENDING,
    )


NETWORK_FLOW_MONITOR_TOP_CONTRIBUTORS_QUERY = _network_flow_monitor_query(
    "monitor_top_contributors", "top_contributors", "top-contributors",
    _resource_name("monitor_name", "monitorName"),
)
NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_DATA_QUERY = _network_flow_monitor_query(
    "workload_insights_top_contributors_data", "workload_insights_top_contributors_data",
    "workload-insights top-contributors data", Identifier("scope_id", "scopeId"),
)
NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_QUERY = _network_flow_monitor_query(
    "workload_insights_top_contributors", "workload_insights_top_contributors",
    "workload-insights top-contributors", Identifier("scope_id", "scopeId"),
)


def _neptune_query(language: str, title: str) -> StatusSpec:
    """One Neptune query language's status API (``get_<language>_query_status`` and its
    execute, list and cancel calls): all languages share the "finished queries vanish" design
    (REFERENCE.md §4)."""
    return StatusSpec(
        key=f"neptune_{language}_query",
        title=f"Neptune {title} query",
        service="neptunedata",
        operation=f"get_{language}_query_status",
        start_operation=f"execute_{language}_query",
        list_operation=f"list_{language}_queries",
        # Running and waiting queries of the endpoint, each as its status call answers; a finished
        # one is absent, so its end is read from its own status call (the vanish quirk).
        listing=StatusListing(f"list_{language}_queries", items="queries", inputs={"includeWaiting": True}),
        stop_operation=f"cancel_{language}_query",
        doc_url="https://docs.aws.amazon.com/neptune/latest/data-api/API_Get"
                f"{''.join(part.title() for part in language.split('_'))}QueryStatus.html",
        identifiers=(Identifier("query_id", "queryId"),),
        read_state=_neptune_state,
        success_states=frozenset({NEPTUNE_FINISHED}),
        failure_states=frozenset({NEPTUNE_CANCELLED}),
        pending_states=frozenset({NEPTUNE_RUNNING}),
        progress={
            "elapsed_ms": _path_getter("queryEvalStats", "elapsed"),
            "waited_ms": _path_getter("queryEvalStats", "waited"),
        },
        quirks=(NEPTUNE_VANISH, EndpointArgument()),
        iam_action_name="neptune-db:GetQueryStatus",
    )


NEPTUNE_OPEN_CYPHER_QUERY = _neptune_query("open_cypher", "openCypher")
NEPTUNE_GREMLIN_QUERY = _neptune_query("gremlin", "Gremlin")

#: Neptune's bulk loader (REFERENCE.md §8): its state is in ``payload``, a Document in the model.
_LOAD_PENDING = frozenset({"LOAD_NOT_STARTED", "LOAD_IN_QUEUE", "LOAD_IN_PROGRESS"})
_LOAD_FAILURE = frozenset({
    "LOAD_CANCELLED_BY_USER", "LOAD_CANCELLED_DUE_TO_ERRORS", "LOAD_UNEXPECTED_ERROR", "LOAD_FAILED",
    "LOAD_S3_READ_ERROR", "LOAD_S3_ACCESS_DENIED_ERROR", "LOAD_DATA_DEADLOCK", "LOAD_FAILED_INVALID_REQUEST",
    "LOAD_DATA_FAILED_DUE_TO_FEED_MODIFIED_OR_DELETED", "LOAD_FAILED_BECAUSE_DEPENDENCY_NOT_SATISFIED",
    "LOAD_COMMITTED_W_WRITE_CONFLICTS"})
_load_status = _path_getter("payload", "overallStatus", "status")

NEPTUNE_LOADER_JOB = StatusSpec(
    key="neptune_loader_job",
    title="Neptune bulk load",
    service="neptunedata",
    operation="get_loader_job_status",
    start_operation="start_loader_job", started_id=("payload", "loadId"), stop_operation="cancel_loader_job",
    start_idempotent=True,  # [model] StartLoaderJob carries the `idempotent` trait
    doc_url="https://docs.aws.amazon.com/neptune/latest/data-api/API_GetLoaderJobStatus.html",
    identifiers=(Identifier("load_id", "loadId"),),
    read_state=_load_status,
    success_states=frozenset({"LOAD_COMPLETED"}), failure_states=_LOAD_FAILURE, pending_states=_LOAD_PENDING,
    documented_states=_LOAD_PENDING | _LOAD_FAILURE | {"LOAD_COMPLETED"},
    read_reason=lambda answer: "its data was committed with unresolved write conflicts: Neptune advises resuming "
    "the load (mode RESUME)" if _load_status(answer) == "LOAD_COMMITTED_W_WRITE_CONFLICTS" else None,
    progress={"records": _path_getter("payload", "overallStatus", "totalRecords")},
    quirks=(EndpointArgument(),),
    iam_action_name="neptune-db:GetLoaderJobStatus",
)

ATHENA_CALCULATION_EXECUTION = StatusSpec(
    key="athena_calculation_execution",
    title="Athena calculation execution",
    service="athena",
    operation="get_calculation_execution_status",
    start_operation="start_calculation_execution",
    start_token="ClientRequestToken",
    results_operation="get_calculation_execution",
    stop_operation="stop_calculation_execution",
    doc_url="https://docs.aws.amazon.com/athena/latest/APIReference/API_GetCalculationExecutionStatus.html",
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

LOGS_INSIGHTS_QUERY = StatusSpec(  # REFERENCE.md section 7: GetQueryResults is the status call and the results
    key="logs_insights_query",
    title="CloudWatch Logs Insights query",
    service="logs",
    operation="get_query_results",
    start_operation="start_query",
    results_operation="get_query_results",
    stop_operation="stop_query",
    doc_url="https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetQueryResults.html",
    identifiers=(Identifier("query_id", "queryId", max_length=256),),
    read_state=_path_getter("status"),
    success_states=frozenset({"Complete"}),
    failure_states=frozenset({"Failed", "Cancelled", "Timeout"}),
    pending_states=frozenset({"Scheduled", "Running", "Unknown"}),  # Unknown: undocumented, logged, waited on
    progress={"records_matched": _path_getter("statistics", "recordsMatched"),
              "bytes_scanned": _path_getter("statistics", "bytesScanned")},
    omitted_members=frozenset({"results"}),
    status_call_inputs={"maxItems": 1},
    # The account's recent queries, newest first, each with its status (REFERENCE.md section 7):
    # a final one ends its wait without a GetQueryResults call.
    listing=StatusListing("describe_queries", items="queries", inputs={"maxResults": 1000}, next_token="nextToken",
                          page_size="maxResults", final_answers=True),
)

SPECS: dict[str, StatusSpec] = build_registry(
    (
        INTERNET_MONITOR_QUERY,
        NETWORK_FLOW_MONITOR_TOP_CONTRIBUTORS_QUERY,
        NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_DATA_QUERY,
        NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_QUERY,
        NEPTUNE_OPEN_CYPHER_QUERY,
        NEPTUNE_GREMLIN_QUERY,
        NEPTUNE_LOADER_JOB,
        ATHENA_CALCULATION_EXECUTION,
        LOGS_INSIGHTS_QUERY,
    ),
    SERVICES,
)


def status_methods(service: str) -> tuple[str, ...]:
    """The status calls (boto3 method names) declared for one AWS service (boto3 client name)."""
    return tuple(spec.operation for spec in SPECS.values() if spec.service == service)
