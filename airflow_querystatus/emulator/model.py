"""The emulator's state: queries with scripted state progressions and injected faults.

A query follows its ``steps``: each step holds a state for a number of status calls
(``polls``) or seconds (``seconds``); the last step is where it stays. Faults are consumed
by the calls that touch the query (or, for global faults, by any call) before the script
answers, so a test can say "throttle the next three polls, then answer normally".
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_querystatus.emulator import validation
from airflow_querystatus.emulator.catalogue import CATALOGUE, Emulated, emulated_specs
from airflow_querystatus.emulator.errors import ControlError
from airflow_querystatus.emulator.logs import LogEvent, LogGroup, parse_events
from airflow_querystatus.emulator.quotas import EVERY_OPERATION, Quota, Quotas
from airflow_querystatus.emulator.sigv4 import Credentials
from airflow_querystatus.emulator.wire import AwsError, operation_model
from airflow_querystatus.status import Identifier, StatusSpec

#: Every emulated operation by its kind: the spec's key (``athena_calculation_execution``), the
#: name its metrics and docs pages use too.
SPECS_BY_KIND: dict[str, StatusSpec] = {spec.key: spec for spec in emulated_specs()}
KINDS = tuple(SPECS_BY_KIND)
#: Former kind names (``athena_calculation``), still accepted everywhere a kind is.
KIND_ALIASES: dict[str, str] = {alias: key for key, behaviour in CATALOGUE.items() for alias in behaviour.aliases}


def resolve_kind(kind: object, field: str = "kind") -> str:
    """The kind ``kind`` names (itself or the kind of a former name); :class:`ControlError` if none."""
    if isinstance(kind, str) and kind in SPECS_BY_KIND:
        return kind
    if isinstance(kind, str) and kind in KIND_ALIASES:
        return KIND_ALIASES[kind]
    raise ControlError(f"unknown kind {kind!r}; expected one of: {', '.join(KINDS)} "
                       f"(former names also accepted: {', '.join(KIND_ALIASES)})",
                       field, kinds=list(KINDS))


def _fields(raw: Mapping[str, Any], allowed: Iterable[str], where: str) -> dict[str, Any]:
    """``raw`` as a dict, refusing any key not in ``allowed`` with the key's name."""
    if not isinstance(raw, Mapping):
        raise ControlError(f"{where} must be a JSON object, got {type(raw).__name__} {raw!r}", where)
    allowed = tuple(allowed)
    for key in raw:
        if key not in allowed:
            raise ControlError(f"unknown field {key!r} in {where}; expected: {', '.join(allowed)}",
                               f"{where}.{key}" if where != "body" else str(key))
    return dict(raw)


def _number(value: Any, field: str, *, integer: bool = False, minimum: float = 0) -> Any:
    if value is None:
        return None
    wrong_type = isinstance(value, bool) or not isinstance(value, int if integer else (int, float))
    if wrong_type or value < minimum:
        what = "an integer" if integer else "a number"
        raise ControlError(f"{field} must be {what} >= {minimum}, got {value!r}", field)
    return value


@dataclass
class Step:
    """Hold ``state`` for ``polls`` status calls or ``seconds`` seconds (neither: forever)."""

    state: str
    polls: int | None = None
    seconds: float | None = None
    reason: str | None = None
    progress: str | None = None

    @classmethod
    def parse(cls, raw: Step | Mapping[str, Any] | tuple[Any, ...] | list[Any] | str, where: str = "step") -> Step:
        """A step from its short forms: ``"STATE"``, ``["STATE", polls]`` or an object; a wrong
        one raises :class:`ControlError` naming ``where`` (e.g. ``steps[1]``) and the field."""
        if isinstance(raw, Step):
            return raw
        if isinstance(raw, str):
            values: dict[str, Any] = {"state": raw}
        elif isinstance(raw, (tuple, list)):
            if not 1 <= len(raw) <= 2:
                raise ControlError(f"{where} must be [state] or [state, polls], got {list(raw)!r}", where)
            values = {"state": raw[0], "polls": raw[1] if len(raw) > 1 else None}
        else:
            values = _fields(raw, ("state", "polls", "seconds", "reason", "progress"), where)
        state = values.get("state")
        if not isinstance(state, str) or not state:
            raise ControlError(f"{where}.state must be a non-empty string, got {state!r}", f"{where}.state")
        for text in ("reason", "progress"):
            if values.get(text) is not None and not isinstance(values[text], str):
                raise ControlError(f"{where}.{text} must be a string, got {values[text]!r}", f"{where}.{text}")
        values["polls"] = _number(values.get("polls"), f"{where}.polls", integer=True)
        values["seconds"] = _number(values.get("seconds"), f"{where}.seconds")
        if values["polls"] is not None and values["seconds"] is not None:
            raise ControlError(f"{where}: give polls or seconds, not both", f"{where}.seconds")
        return cls(**values)


def parse_steps(raw: Any, where: str = "steps") -> list[Step]:
    """A whole script; it must hold at least one step."""
    if isinstance(raw, (str, Mapping)) or not isinstance(raw, Iterable):
        raise ControlError(f"{where} must be a list of steps, got {raw!r}", where)
    steps = [Step.parse(step, f"{where}[{i}]") for i, step in enumerate(raw)]
    if not steps:
        raise ControlError(f"{where} must not be empty", where)
    return steps


#: A query or code block may carry its own script for the emulator, so an example DAG can
#: fail on purpose: ``# emulator-script: [["RUNNING", 2], {"state": "FAILED", "reason": "..."}]``.
#: AWS ignores it (it is a comment); the emulator plays it.
SCRIPT_DIRECTIVE = "emulator-script:"


def steps_from_text(text: str | None) -> list[Step] | None:
    """The script a query's text asks for, if it carries :data:`SCRIPT_DIRECTIVE`."""
    if not text or SCRIPT_DIRECTIVE not in text:
        return None
    line = (text.split(SCRIPT_DIRECTIVE, 1)[1].splitlines() or [""])[0].strip()
    try:
        script = json.loads(line)
    except ValueError as err:
        raise ControlError(f"the {SCRIPT_DIRECTIVE} line is not a JSON list of steps ({err}): {line!r}",
                           "text") from None
    return parse_steps(script, SCRIPT_DIRECTIVE.rstrip(":"))


def emulated(kind: str) -> Emulated:
    """How to play ``kind`` (or a former name of it), from the emulator's catalogue."""
    return CATALOGUE[resolve_kind(kind)]


def default_steps(kind: str) -> list[Step]:
    """The catalogue's script for queries of ``kind`` started through the API."""
    return [Step.parse(step) for step in emulated(kind).steps]


@dataclass
class Fault:
    """What to do instead of answering: an AWS error, a raw HTTP answer, a delay or a reset.

    ``count`` calls are affected, or every call for ``seconds`` after the first one.
    """

    error: str | None = None
    message: str | None = None
    http_status: int | None = None
    body: str | None = None
    content_type: str = "text/html"
    delay: float | None = None
    reset: bool = False
    count: int = 1
    seconds: float | None = None
    #: Only calls to these operations (snake_case boto3 names) are affected; empty: all.
    operations: tuple[str, ...] = ()
    _started: float | None = None
    _used: int = 0

    #: What a fault may say, in the control API and ``add_query(faults=...)``.
    FIELDS = ("error", "message", "http_status", "body", "content_type", "delay", "reset", "count", "seconds",
              "operations")

    @classmethod
    def parse(cls, raw: Fault | Mapping[str, Any], where: str = "fault",
              operations: Iterable[str] = ()) -> Fault:
        """A fault from its JSON form; a wrong one raises :class:`ControlError` naming the field.
        ``operations``: the operation names the server answers (empty: not checked)."""
        if isinstance(raw, Fault):
            return raw
        values = _fields(raw, cls.FIELDS, where)
        for text in ("error", "message", "body", "content_type"):
            if values.get(text) is not None and not isinstance(values[text], str):
                raise ControlError(f"{where}.{text} must be a string, got {values[text]!r}", f"{where}.{text}")
        status = values.get("http_status")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599):
            raise ControlError(f"{where}.http_status must be an HTTP status (100-599), got {status!r}",
                               f"{where}.http_status")
        if not isinstance(values.get("reset", False), bool):
            raise ControlError(f"{where}.reset must be true or false, got {values['reset']!r}", f"{where}.reset")
        values["delay"] = _number(values.get("delay"), f"{where}.delay")
        values["seconds"] = _number(values.get("seconds"), f"{where}.seconds")
        values["count"] = _number(values.get("count", 1), f"{where}.count", integer=True, minimum=1)
        if not any(values.get(k) for k in ("error", "http_status", "delay", "reset")):
            raise ControlError(f"{where} does nothing: give error, http_status, delay or reset", where)
        known = frozenset(operations)
        names = values.get("operations", ())
        if isinstance(names, str) or not isinstance(names, Iterable):
            raise ControlError(f"{where}.operations must be a list of operation names, got {names!r}",
                               f"{where}.operations")
        for name in names:
            if known and name not in known:
                raise ControlError(f"unknown operation {name!r} in {where}.operations (boto3 method names); "
                                   f"expected any of: {', '.join(sorted(known))}", f"{where}.operations",
                                   operations=sorted(known))
        values["operations"] = tuple(names)
        return cls(**values)

    def applies_to(self, operation: str) -> bool:
        return not self.operations or operation in self.operations

    @property
    def spent(self) -> bool:
        """Whether a ``count`` fault has affected all its calls (a ``seconds`` one is spent once
        :meth:`consume` says so)."""
        return self.seconds is None and self._used >= self.count

    def consume(self, now: float) -> bool:
        """Use the fault once; return False once it is spent."""
        if self.seconds is not None:
            if self._started is None:
                self._started = now
            return now - self._started < self.seconds
        if self._used >= self.count:
            return False
        self._used += 1
        return True


@dataclass
class Query:
    kind: str
    query_id: str
    identifiers: dict[str, str]
    steps: list[Step]
    faults: list[Fault] = field(default_factory=list)
    result_rows: int = 3
    text: str | None = None
    session_id: str | None = None
    created_at: float = field(default_factory=time.time)
    status_calls: int = 0
    stopped: bool = False
    silent_cancel: bool = False
    #: Start the script's clock at the first status call instead of at creation, so that
    #: queries planted ahead of a benchmark run for the same time once their wait begins.
    clock_from_first_poll: bool = False
    #: A recurring query's script: it starts again with it (as a new query, with a new id) once
    #: it reaches its last step, like someone else's nightly load, so that what an example DAG
    #: waits on is there for every run. None: it does not recur.
    recurs_with: list[Step] | None = None
    #: Result rows the start computed (a Logs Insights query over log groups with events),
    #: instead of the kind's usual ``result_rows`` made-up rows.
    rows: list[Any] | None = None
    #: What its start request said that a list call shows (Logs' ``queryString``, log groups and
    #: ``queryLanguage``, Athena's ``Description``), by member name; empty for a planted query.
    started_with: dict[str, Any] = field(default_factory=dict)
    #: (state, UNIX time it was entered), for detection-delay measurements.
    history: list[tuple[str, float]] = field(default_factory=list)
    _step: int = 0
    _polls_in_step: int = 0
    _step_started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.history.append((self.steps[0].state, self._step_started))

    @property
    def step(self) -> Step:
        return self.steps[self._step]

    def advance(self, now: float) -> Step:
        """Move past finished steps (by polls or elapsed time) and return the current one."""
        while self._step < len(self.steps) - 1:
            step = self.step
            if step.polls is not None and self._polls_in_step >= step.polls:
                entered = now
            elif step.seconds is not None and now - self._step_started >= step.seconds:
                entered = self._step_started + step.seconds
            else:
                break
            self._step += 1
            self._polls_in_step = 0
            self._step_started = entered
            self.history.append((self.step.state, entered))
        return self.step

    def poll(self, now: float) -> Step:
        """Answer one status call."""
        if self.clock_from_first_poll and self.status_calls == 0:
            self._step_started = now
            self.history[0] = (self.history[0][0], now)
        step = self.advance(now)
        self._polls_in_step += 1
        self.status_calls += 1
        return step

    def force(self, steps: list[Step], now: float) -> None:
        """Replace the rest of the script with ``steps`` from now on (e.g. on stop)."""
        self.steps = self.steps[: self._step] + steps
        self._step = len(self.steps) - len(steps)
        self._polls_in_step = 0
        self._step_started = now
        self.history.append((steps[0].state, now))

    def state_entered_at(self, state: str) -> float | None:
        return next((t for s, t in self.history if s == state), None)


class UnknownQuery(LookupError):
    pass


class Emulator:
    """All emulated queries; thread-safe (the server runs in its own thread)."""

    def __init__(self, quota_clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.RLock()
        self._queries: dict[str, Query] = {}
        self._defaults: dict[str, list[Step]] = {}
        self._global_faults: list[Fault] = []
        self.requests: dict[str, int] = {}
        #: (UNIX time, operation, access key id) of every request, for rate and rotation checks.
        self.request_log: list[tuple[float, str, str | None]] = []
        #: STS AssumeRole: keys handed out, and when the emulator stops accepting each one
        #: (None: not used yet). ``sts_key_lifetime`` (seconds, None: forever) is enforced here,
        #: whatever expiry the answer announced (``sts_announced_duration``), to test mid-wait
        #: expiry. It counts from a key's first use, not its issue, so that every key answers at
        #: least one call however slowly a loaded machine builds the client that uses it.
        self.sts_keys: dict[str, float | None] = {}
        self.sts_key_lifetime: float | None = None
        self.sts_announced_duration: float = 3600.0
        self.sessions: dict[str, dict[str, Any]] = {}
        #: Access keys whose SigV4 signatures are verified (see :mod:`.sigv4`).
        self.credentials = Credentials()
        #: CloudWatch Logs log groups by name: a Logs Insights query runs only over groups that exist.
        self.log_groups: dict[str, LogGroup] = {}
        #: The operations (boto3 names) the server answers, which faults may name; set by the
        #: server that serves this emulator (empty: names are not checked).
        self.operations: frozenset[str] = frozenset()
        #: The API name (``GetQueryResults``) of each operation the server answers, by its boto3
        #: name, and every (service, API name) it answers; set with :attr:`operations`, for quotas.
        self.api_names: dict[str, str] = {}
        self.served: frozenset[tuple[str, str]] = frozenset()
        #: The account's API quotas (off until one is set), on ``quota_clock``.
        self.quotas = Quotas(quota_clock)

    # -- test-facing API --------------------------------------------------------------------
    def add_query(self, kind: str, identifiers: Mapping[str, str] | None = None, **options: Any) -> Query:
        """Plant a query (as if it had been started) with a script and faults.

        ``kind`` is an operation's key (``internet_monitor_query``; see :data:`KINDS`) or a former
        name. ``identifiers`` must hold every identifier its status call takes besides the query's
        own id (e.g. ``monitor_name``; API names such as ``MonitorName`` work too), or the query
        could never be found. Planting under an existing ``query_id`` replaces that query.
        Anything wrong raises :class:`ControlError` naming the field. ``options``: see
        :meth:`new_query`.
        """
        return self.plant([self.new_query(kind, identifiers, **options)])[0]

    def plant(self, queries: list[Query]) -> list[Query]:
        """Make queries built by :meth:`new_query` known, all at once."""
        with self._lock:
            for query in queries:
                self._queries[query.query_id] = query
        return queries

    def new_query(
        self,
        kind: str,
        identifiers: Mapping[str, str] | None = None,
        *,
        steps: Iterable[Any] | None = None,
        faults: Iterable[Any] = (),
        query_id: str | None = None,
        result_rows: int = 3,
        text: str | None = None,
        session_id: str | None = None,
        clock_from_first_poll: bool = False,
        recurring: bool = False,
    ) -> Query:
        """A checked query of ``kind`` that is not known yet (:meth:`plant` makes it known), so
        that a batch is planted whole or not at all. Steps default to ``text``'s
        ``# emulator-script:`` line, else to the kind's default script. A ``recurring`` query is
        planted again, with a new id, when it reaches the last step of its script."""
        kind = resolve_kind(kind)
        spec = SPECS_BY_KIND[kind]
        scope = self._scope(spec, identifiers)
        if query_id is not None:
            query_id = self._checked(spec.identifiers[-1], query_id, spec, "query_id")
        if not isinstance(text, (str, type(None))):
            raise ControlError(f"text must be a string, got {text!r}", "text")
        _number(result_rows, "result_rows", integer=True)
        if session_id is not None and (kind != "athena_calculation_execution" or session_id not in self.sessions):
            raise ControlError(f"session_id {session_id!r} must name an Athena session the emulator holds "
                               "(create_athena_session, StartSession, POST /_emulator/athena-sessions), and only "
                               "an athena_calculation_execution runs in one", "session_id")
        script = parse_steps(steps) if steps is not None else steps_from_text(text)
        parsed_faults = [Fault.parse(f, f"faults[{i}]", self.operations) for i, f in enumerate(faults)]
        script = script or self.default_steps(kind)
        return Query(
            kind=kind,
            query_id=query_id or str(uuid.uuid4()),
            identifiers=scope,
            steps=script,
            faults=parsed_faults,
            result_rows=result_rows,
            text=text,
            session_id=session_id,
            clock_from_first_poll=clock_from_first_poll,
            recurs_with=[Step(**vars(s)) for s in script] if recurring else None,
        )

    @staticmethod
    def _checked(ident: Identifier, value: Any, spec: StatusSpec, field: str) -> str:
        try:
            return ident.validate(value, owner=f"{spec.key} {field}")
        except ValueError as err:
            raise ControlError(str(err), field) from None

    def _scope(self, spec: StatusSpec, identifiers: Mapping[str, Any] | None) -> dict[str, str]:
        """The scope identifiers of a planted query by Python name, each checked like the
        sensors check theirs; every one the status call needs must be there."""
        *needed, own = spec.identifiers
        given = dict(_fields(identifiers or {}, [n for i in spec.identifiers for n in (i.name, i.api_name)],
                             "identifiers"))
        if own.name in given or own.api_name in given:
            raise ControlError(f"{own.name!r} is the query's own id: give it as query_id, not in identifiers",
                               f"identifiers.{own.name}")
        scope: dict[str, str] = {}
        for ident in needed:
            value = given.get(ident.name, given.get(ident.api_name))
            if value is None:
                raise ControlError(
                    f"{spec.key} queries need identifiers {[i.name for i in needed]} (the status call "
                    f"{spec.operation} takes them); {ident.name!r} is missing", f"identifiers.{ident.name}")
            scope[ident.name] = self._checked(ident, value, spec, f"identifiers.{ident.name}")
        return scope

    def _recur(self, query: Query) -> None:
        """A recurring query that moved on to its last step starts again, once, as a new query."""
        if query.recurs_with is not None and query._step == len(query.steps) - 1 > 0:
            script, query.recurs_with = query.recurs_with, None
            self.add_query(query.kind, query.identifiers, steps=script, result_rows=query.result_rows,
                           text=query.text, session_id=query.session_id, recurring=True)

    def create_log_group(self, name: str, events: Iterable[Mapping[str, Any]] = ()) -> LogGroup:
        """A CloudWatch Logs log group, so that Logs Insights queries over it start (StartQuery
        refuses a group that does not exist, as AWS does), with ``events``
        (``{"message", "timestamp"}``, milliseconds, default now) in its ``emulator`` stream; a
        query over groups with events answers them as its rows. Creating a group that exists
        adds the events to it, so that planting twice is harmless. A wrong name or event raises
        :class:`ControlError` naming the field (``name``, ``events[1].message``)."""
        found = validation.problems(operation_model("logs", "create_log_group").input_shape.members["logGroupName"],
                                    name, "name")
        if found:
            raise ControlError(validation.message(found), "name")
        parsed = parse_events(events if isinstance(events, (str, Mapping)) else list(events), "events")
        with self._lock:
            group = self.log_groups.setdefault(name, LogGroup(name))
            group.events.extend(parsed)
            return group

    def log_group(self, name: str) -> LogGroup | None:
        """The log group of that name, if it exists."""
        with self._lock:
            return self.log_groups.get(name)

    def all_log_groups(self) -> list[LogGroup]:
        """Every log group, by name."""
        with self._lock:
            return sorted(self.log_groups.values(), key=lambda g: g.name)

    def put_log_events(self, group: LogGroup, events: Iterable[LogEvent]) -> None:
        with self._lock:
            group.events.extend(events)

    def set_default_steps(self, kind: str, steps: Iterable[Any]) -> None:
        """The script for queries started through the API from now on."""
        script = parse_steps(steps)
        with self._lock:
            self._defaults[resolve_kind(kind)] = script

    def default_steps(self, kind: str) -> list[Step]:
        kind = resolve_kind(kind)
        with self._lock:
            return [Step(**vars(s)) for s in self._defaults.get(kind, default_steps(kind))]

    def add_global_faults(self, faults: Iterable[Any]) -> None:
        """Faults for any call (of their ``operations``), consumed in order."""
        if isinstance(faults, (str, Mapping)) or not isinstance(faults, Iterable):
            raise ControlError(f"faults must be a list of faults, got {faults!r}", "faults")
        parsed = [Fault.parse(f, f"faults[{i}]", self.operations) for i, f in enumerate(faults)]
        with self._lock:
            self._global_faults.extend(parsed)

    def clear_global_faults(self) -> None:
        with self._lock:
            self._global_faults.clear()

    def set_quota(self, operation: str, rate: float, burst: float | None = None) -> None:
        """Throttle ``operation`` (its API name, ``GetCalculationExecutionStatus``, or boto3
        name; ``*``: every operation without a quota of its own) to ``rate`` calls a second,
        at most ``burst`` at once (default ``max(1, rate)``), for every caller: the calls over it
        are answered with the service's throttling error and do nothing else. A wrong name or
        number raises :class:`ControlError` naming ``operation``, ``rate`` or ``burst``."""
        self.quotas.set(self._quota_operation(operation), Quota.of(rate, burst))

    def _quota_operation(self, name: object) -> str:
        """The name a quota is kept under: ``*``, an API name (``GetQueryResults``) or
        ``service:Operation`` (``logs:GetQueryResults``); a boto3 name (``get_query_results``)
        stands for its API name."""
        if not isinstance(name, str) or not name:
            raise ControlError(f"operation must be an operation name, got {name!r}", "operation")
        service, _, operation = name.rpartition(":")
        operation = self.api_names.get(operation, operation)
        if name == EVERY_OPERATION or not self.served:  # not served yet: names are not checked
            return name
        if (service, operation) in self.served or (not service and operation in {op for _, op in self.served}):
            return f"{service}:{operation}" if service else operation
        known = sorted({op for _, op in self.served})
        raise ControlError(f"unknown operation {name!r}; expected {EVERY_OPERATION!r}, an API name or "
                           f"service:ApiName (boto3's service name), one of: {', '.join(known)}", "operation",
                           operations=known)

    def clear_quotas(self) -> None:
        """No quota any more, and every quota counter back to zero."""
        self.quotas.clear()

    def quota_counters(self) -> dict[str, dict[str, int]]:
        """Per operation (API name), the calls its quota let through and those it throttled:
        ``{"GetQueryResults": {"served": 3, "throttled": 1}}``. Every operation called since
        the last :meth:`clear_quotas` is there, with a quota or without; calls refused before
        the quota (a bad signature, an expired key) are not."""
        return self.quotas.counters()

    def admit(self, service: str, operation: str) -> bool:
        """Whether a call to ``service``'s ``operation`` (boto3 names) is within its quota now; counted."""
        return self.quotas.admit(service, self.api_names.get(operation, operation))

    def reset_defaults(self) -> None:
        """Forget default scripts and global faults (between tests)."""
        with self._lock:
            self._global_faults.clear()
            self._defaults.clear()

    def clear(self) -> None:
        """Forget everything planted, started or counted: queries, default scripts, faults,
        request counts and log, log groups, Athena sessions, assumed keys, quotas and their
        counters, as a new emulator would start (the verified credentials stay). Between tests."""
        with self._lock:
            self.reset_defaults()
            self.clear_quotas()
            self._queries.clear()
            self.requests.clear()
            self.request_log.clear()
            self.log_groups.clear()
            self.sessions.clear()
            self.sts_keys.clear()
            self.sts_key_lifetime = None
            self.sts_announced_duration = 3600.0

    def create_session(self, work_group: str = "primary", state: str = "IDLE") -> str:
        """An Athena Spark session (as StartSession makes one) that calculations can start in;
        returns its id."""
        session_id = str(uuid.uuid4())
        with self._lock:
            self.sessions[session_id] = {"State": state, "WorkGroup": work_group}
        return session_id

    def query(self, query_id: str) -> Query:
        with self._lock:
            try:
                return self._queries[query_id]
            except KeyError:
                raise UnknownQuery(query_id) from None

    def queries(self, kind: str | None = None) -> list[Query]:
        """Every query, or those of ``kind`` (or a former name of it)."""
        kind = None if kind is None else resolve_kind(kind)
        with self._lock:
            return [q for q in self._queries.values() if kind is None or q.kind == kind]

    # -- server-facing API ------------------------------------------------------------------
    def count_request(self, operation: str, access_key: str | None = None) -> None:
        with self._lock:
            self.requests[operation] = self.requests.get(operation, 0) + 1
            self.request_log.append((time.time(), operation, access_key))

    def issue_sts_key(self) -> tuple[str, float]:
        """A new temporary access key id and the expiry it announces (UNIX time)."""
        now = time.time()
        with self._lock:
            key = f"ASIAEMULATOR{len(self.sts_keys) + 1:08d}"
            self.sts_keys[key] = None
            return key, now + self.sts_announced_duration

    def key_expired(self, access_key: str | None) -> bool:
        """Whether a request signed with ``access_key`` is refused as expired; a key's first
        use starts its ``sts_key_lifetime``."""
        if access_key is None or self.sts_key_lifetime is None:
            return False
        now = time.time()
        with self._lock:
            if access_key not in self.sts_keys:
                return False  # not an assumed key
            expires = self.sts_keys[access_key]
            if expires is None:
                expires = self.sts_keys[access_key] = now + self.sts_key_lifetime
            return now >= expires

    def next_fault(self, operation: str, query_id: str | None) -> Fault | None:
        """The fault to apply to this call, if any: the first of the query's faults, else of
        the global ones, that applies to ``operation``. Faults for other operations wait for
        theirs, in order; a spent fault is removed."""
        now = time.time()
        with self._lock:
            pools: list[list[Fault]] = []
            query = self._queries.get(query_id) if query_id else None
            if query is not None:
                pools.append(query.faults)
            pools.append(self._global_faults)
            # Each fault waits for the next call it applies to, in the order given: one for another
            # operation never holds back the ones behind it, and a spent one is dropped.
            for faults in pools:
                for fault in [f for f in faults if f.applies_to(operation)]:
                    if fault.consume(now):
                        if fault.spent:
                            faults.remove(fault)
                        return fault
                    faults.remove(fault)
            return None

    def find(self, kind: str, identifiers: Mapping[str, str], query_id: str) -> Query | None:
        """The query, if it exists under these identifiers (AWS scopes ids per monitor/scope)."""
        with self._lock:
            query = self._queries.get(query_id)
            if query is None or query.kind != kind:
                return None
            if any(query.identifiers.get(k) != v for k, v in identifiers.items()):
                return None
            return query

    def poll(self, query: Query) -> Step:
        with self._lock:
            step = query.poll(time.time())
            self._recur(query)
            return step

    def peek(self, query: Query) -> Step:
        with self._lock:
            step = query.advance(time.time())
            self._recur(query)
            return step

    def stop(self, query: Query) -> None:
        """StopQuery and friends: a running query plays its kind's ``stopped`` script; one that
        ended stays as it is, and if its kind refuses such a stop (``finished_stop``: CloudWatch
        Logs), :class:`~.wire.AwsError` with the kind's error is raised and it is not marked stopped."""
        now = time.time()
        with self._lock:
            state = query.advance(now).state
            behaviour = emulated(query.kind)
            if state not in behaviour.stoppable and behaviour.finished_stop is not None:
                code, message = behaviour.finished_stop
                raise AwsError(code, message.format(id=query.query_id, state=state))
            query.stopped = True
            if state in behaviour.stoppable:
                query.force([Step.parse(step) for step in behaviour.stopped], now)
