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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_querystatus.emulator.sigv4 import Credentials
from airflow_querystatus.status import SPECS, Emulated, StatusSpec

#: Every emulated operation by its kind (``StatusSpec.emulated``), derived from the registry.
SPECS_BY_KIND: dict[str, StatusSpec] = {
    spec.emulated.kind: spec for spec in SPECS.values() if spec.emulated is not None
}
KINDS = tuple(SPECS_BY_KIND)


@dataclass
class Step:
    """Hold ``state`` for ``polls`` status calls or ``seconds`` seconds (neither: forever)."""

    state: str
    polls: int | None = None
    seconds: float | None = None
    reason: str | None = None
    progress: str | None = None

    @classmethod
    def parse(cls, raw: Step | Mapping[str, Any] | tuple[Any, ...] | list[Any] | str) -> Step:
        if isinstance(raw, Step):
            return raw
        if isinstance(raw, str):
            return cls(raw)
        if isinstance(raw, (tuple, list)):
            return cls(raw[0], polls=raw[1] if len(raw) > 1 else None)
        return cls(**dict(raw))


#: A query or code block may carry its own script for the emulator, so an example DAG can
#: fail on purpose: ``# emulator-script: [["RUNNING", 2], {"state": "FAILED", "reason": "..."}]``.
#: AWS ignores it (it is a comment); the emulator plays it.
SCRIPT_DIRECTIVE = "emulator-script:"


def steps_from_text(text: str | None) -> list[Step] | None:
    """The script a query's text asks for, if it carries :data:`SCRIPT_DIRECTIVE`."""
    if not text or SCRIPT_DIRECTIVE not in text:
        return None
    line = text.split(SCRIPT_DIRECTIVE, 1)[1].splitlines()[0].strip()
    return [Step.parse(tuple(s) if isinstance(s, list) else s) for s in json.loads(line)]


def emulated(kind: str) -> Emulated:
    """The registry's description of how to play ``kind``."""
    behaviour = SPECS_BY_KIND[kind].emulated
    assert behaviour is not None
    return behaviour


def default_steps(kind: str) -> list[Step]:
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

    @classmethod
    def parse(cls, raw: Fault | Mapping[str, Any]) -> Fault:
        if isinstance(raw, Fault):
            return raw
        values = dict(raw)
        if "operations" in values:
            values["operations"] = tuple(values["operations"])
        return cls(**values)

    def applies_to(self, operation: str) -> bool:
        return not self.operations or operation in self.operations

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

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._queries: dict[str, Query] = {}
        self._defaults: dict[str, list[Step]] = {}
        self._global_faults: list[Fault] = []
        self.requests: dict[str, int] = {}
        #: (UNIX time, operation, access key id) of every request, for rate and rotation checks.
        self.request_log: list[tuple[float, str, str | None]] = []
        #: STS AssumeRole: keys handed out, and when the emulator stops accepting each one.
        #: ``sts_key_lifetime`` (seconds, None: forever) is enforced here, whatever expiry
        #: the answer announced (``sts_announced_duration``), to test mid-wait expiry.
        self.sts_keys: dict[str, float] = {}
        self.sts_key_lifetime: float | None = None
        self.sts_announced_duration: float = 3600.0
        self.sessions: dict[str, dict[str, Any]] = {}
        #: Access keys whose SigV4 signatures are verified (see :mod:`.sigv4`).
        self.credentials = Credentials()

    # -- test-facing API --------------------------------------------------------------------
    def add_query(
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
        """Plant a query (as if it had been started) with a script and faults; a ``recurring``
        one is planted again, with a new id, when it reaches the last step of its script."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
        with self._lock:
            if steps is not None:
                script = [Step.parse(s) for s in steps]
            else:
                script = steps_from_text(text) or self.default_steps(kind)
            if not script:
                raise ValueError("steps must not be empty")
            query = Query(
                kind=kind,
                query_id=query_id or str(uuid.uuid4()),
                identifiers=dict(identifiers or {}),
                steps=script,
                faults=[Fault.parse(f) for f in faults],
                result_rows=result_rows,
                text=text,
                session_id=session_id,
                clock_from_first_poll=clock_from_first_poll,
                recurs_with=[Step(**vars(s)) for s in script] if recurring else None,
            )
            self._queries[query.query_id] = query
            return query

    def _recur(self, query: Query) -> None:
        """A recurring query that moved on to its last step starts again, once, as a new query."""
        if query.recurs_with is not None and query._step == len(query.steps) - 1 > 0:
            script, query.recurs_with = query.recurs_with, None
            self.add_query(query.kind, query.identifiers, steps=script, result_rows=query.result_rows,
                           text=query.text, session_id=query.session_id, recurring=True)

    def set_default_steps(self, kind: str, steps: Iterable[Any]) -> None:
        """The script for queries started through the API from now on."""
        with self._lock:
            self._defaults[kind] = [Step.parse(s) for s in steps]

    def default_steps(self, kind: str) -> list[Step]:
        with self._lock:
            return [Step(**vars(s)) for s in self._defaults.get(kind, default_steps(kind))]

    def add_global_faults(self, faults: Iterable[Any]) -> None:
        with self._lock:
            self._global_faults.extend(Fault.parse(f) for f in faults)

    def clear_global_faults(self) -> None:
        with self._lock:
            self._global_faults.clear()

    def reset_defaults(self) -> None:
        """Forget default scripts and global faults (between tests)."""
        with self._lock:
            self._global_faults.clear()
            self._defaults.clear()

    def query(self, query_id: str) -> Query:
        with self._lock:
            try:
                return self._queries[query_id]
            except KeyError:
                raise UnknownQuery(query_id) from None

    def queries(self, kind: str | None = None) -> list[Query]:
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
            self.sts_keys[key] = now + self.sts_key_lifetime if self.sts_key_lifetime is not None else float("inf")
            return key, now + self.sts_announced_duration

    def key_expired(self, access_key: str | None) -> bool:
        with self._lock:
            return access_key is not None and time.time() >= self.sts_keys.get(access_key, float("inf"))

    def next_fault(self, operation: str, query_id: str | None) -> Fault | None:
        """The fault to apply to this call, if any (query faults first, then global ones)."""
        now = time.time()
        with self._lock:
            pools: list[list[Fault]] = []
            query = self._queries.get(query_id) if query_id else None
            if query is not None:
                pools.append(query.faults)
            pools.append(self._global_faults)
            for faults in pools:
                while faults:
                    fault = faults[0]
                    if not fault.applies_to(operation):
                        break
                    if fault.consume(now):
                        return fault
                    faults.pop(0)
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
        """StopQuery and friends: a running query plays its kind's ``stopped`` script; a
        finished one stays as it is."""
        now = time.time()
        with self._lock:
            state = query.advance(now).state
            query.stopped = True
            behaviour = emulated(query.kind)
            if state in behaviour.stoppable:
                query.force([Step.parse(step) for step in behaviour.stopped], now)
