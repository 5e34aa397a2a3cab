"""The trigger base class: serialize the wait, run the polling engine, yield one event."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import fields
from datetime import timedelta
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent

from airflow_querystatus import front_doors, heap, status_lists
from airflow_querystatus.bounds import configured_call_timeout
from airflow_querystatus.budget import RateBudget, budgets_enabled
from airflow_querystatus.clients import ClientKey, SharedClientPool, call_retrying_transient_errors, shared_pool
from airflow_querystatus.compat import TRIGGER_ON_KILL, task_instance_state
from airflow_querystatus.errors import ErrorKind, classify
from airflow_querystatus.metrics import WaitMetrics
from airflow_querystatus.polling import Outcome, StatusTracker, Verdict, WaitOptions, wait_until_done
from airflow_querystatus.prepared import StatusCall
from airflow_querystatus.status import StatusSpec
from airflow_querystatus.wait import WaitContract

#: The scheduler's own defer timeout is this much later than the trigger's deadline, so the
#: trigger always reports the timeout first: an operator can then stop its query, and a sensor's
#: ``soft_fail`` skips on every line (Airflow 3.0's ``resume_execution`` fails instead of
#: skipping when the scheduler's timeout fires first).
DEFER_TIMEOUT_GRACE = timedelta(seconds=60)


#: Stop decisions under way; held so that a shielded one is not garbage-collected.
_in_flight: set[asyncio.Future[None]] = set()


def _expected_error(spec: StatusSpec, exc: BaseException) -> bool:
    """Errors after which a prepared status call stays in use: those the engine waits out."""
    kind = classify(exc, not_found_codes=spec.not_found_codes, vanished_codes=spec.vanished_codes).kind
    return kind in (ErrorKind.TRANSIENT, ErrorKind.NOT_FOUND, ErrorKind.VANISHED)


_CONTRACT_FIELDS = frozenset(f.name for f in fields(WaitContract)) - {"extras"}


def _is_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


class _PooledStatusFetcher:
    """Makes the status call through the process-wide shared client (prepared after the first
    poll, see :mod:`airflow_querystatus.prepared`)."""

    __slots__ = ("_call", "_key", "_last_client", "_pool")

    def __init__(self, spec: StatusSpec, params: dict[str, str], key: ClientKey, pool: SharedClientPool) -> None:
        self._call = StatusCall(spec.operation, params, keep_template=functools.partial(_expected_error, spec))
        self._key = key
        self._pool = pool
        #: The client of the last call, so that a refusal rebuilds that client and no newer one.
        self._last_client: weakref.ref[Any] | None = None

    async def fetch(self) -> Mapping[str, Any]:
        async with self._pool.borrow(self._key) as client:
            self._last_client = weakref.ref(client)
            return await self._call(client)

    async def refresh(self) -> None:
        failed = self._last_client() if self._last_client is not None else None
        if failed is not None:
            await self._pool.invalidate(self._key, failed)


class _BudgetPacer:
    """One wait's way into the shared rate budget of its client's account and operation."""

    __slots__ = ("_budget", "_key", "_operation", "_pool")

    def __init__(self, key: ClientKey, operation: str, pool: SharedClientPool) -> None:
        self._key = key
        self._operation = operation
        self._pool = pool
        self._budget: RateBudget | None = None

    async def admit(self, *, due: float, urgent: bool, give_up_at: float | None) -> float | None:
        # Looked up at each poll: a rebuilt client may sign for another identity.
        self._budget = await self._pool.budget_for(self._key, self._operation)
        return await self._budget.admit(due=due, urgent=urgent, give_up_at=give_up_at)

    def answered(self) -> None:
        if self._budget is not None:
            self._budget.answered()

    def throttled(self, sent_at: float) -> bool:
        return self._budget is not None and self._budget.throttled(sent_at)


class QueryStatusTrigger(BaseTrigger):
    """Wait in the triggerer for one AWS query or calculation to reach a final state.

    Yields exactly one :class:`~airflow.triggers.base.TriggerEvent` whose payload has
    ``status`` (``success``, ``failure``, ``error`` or ``timeout``), ``state`` (the last
    state seen), ``message``, ``retryable``, the identifiers, and ``response`` (the last
    status answer, JSON-safe).

    Takes the identifiers of its operation (``spec.identifiers``) by name, and the wait's
    settings, as :class:`~airflow_querystatus.wait.WaitContract` declares them: either as
    one ``wait=`` contract or as its flat kwargs (what :meth:`serialize` writes, in this or
    any earlier release): ``aws_conn_id``, ``region_name``, ``verify``, ``botocore_config``,
    ``poll_interval``, ``max_poll_interval``, ``transient_error_budget``, ``deadline``,
    ``stop_on_kill``, ``end_task_on_success`` and the operation's extras.
    """

    spec: ClassVar[StatusSpec]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass with ``spec = ...`` is that operation's trigger: registered for its
        sensor and operator, its signature derived and its docstring checked (``front_doors``)."""
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is not None:
            front_doors.register_trigger(cls, spec)
            front_doors.derive_signature(cls, spec)

    def __init__(
        self,
        *,
        identifiers: Mapping[str, str] | None = None,
        wait: WaitContract | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        names = [ident.name for ident in self.spec.identifiers]
        given = dict(identifiers or {})
        given.update({name: kwargs.pop(name) for name in names if name in kwargs})
        # Identifiers and templated extras are attributes so that Airflow can render them in
        # the triggerer when a sensor starts from the trigger (``start_from_trigger``); a
        # templated value is checked after rendering, in run(), any other value here.
        for ident in self.spec.identifiers:
            value = given.get(ident.name)
            setattr(self, ident.name, value)
            if not _is_template(value):
                ident.validate(value, owner=owner)
        if wait is None:
            wait = WaitContract.from_kwargs(self.spec, kwargs, owner=owner)
        elif kwargs:
            raise TypeError(f"{owner}: pass the wait settings either as `wait` or as kwargs, not both.")
        self.wait = wait.checked(owner)
        for name, value in wait.extras.items():
            setattr(self, name, value)

    @property
    def contract(self) -> WaitContract:
        """The wait's contract, with the extras as they are now (rendered, if templated)."""
        return self.wait.replace(extras={extra.name: getattr(self, extra.name) for extra in self.spec.extras})

    @property
    def options(self) -> WaitOptions:
        return self.wait.options

    @property
    def identifiers(self) -> dict[str, str]:
        return {ident.name: getattr(self, ident.name) for ident in self.spec.identifiers}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}", {**self.identifiers, **self.contract.to_kwargs()}

    def client_key(self) -> ClientKey:
        contract = self.contract
        connection = {extra.name: contract.extras[extra.name] for extra in self.spec.extras if extra.connection}
        return ClientKey.build(
            self.spec.service,
            aws_conn_id=contract.aws_conn_id,
            region_name=contract.region_name,
            verify=contract.verify,
            botocore_config=contract.botocore_config,
            **connection,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            identifiers = self.spec.validate(self.identifiers, owner=type(self).__name__)
        except ValueError as err:
            yield TriggerEvent(Verdict(Outcome.ERROR, None, str(err)).event_payload(self.identifiers))
            return
        contract = self.contract
        heap.keep_long_lived_objects_frozen()  # opt-in, once per process (see heap)
        tracker = StatusTracker(self.spec, identifiers, contract.options, aws_conn_id=contract.aws_conn_id,
                                extras=contract.extras, logger=self.log, metrics=WaitMetrics(self.spec.key))
        pool = shared_pool()
        key = self.client_key()
        lists_mode = status_lists.configured_mode()
        lister = None if lists_mode == "off" else status_lists.shared_listers().for_wait(self.spec, key, pool)
        try:
            async with pool.subscribe(key), lister.member() if lister is not None else contextlib.nullcontext():
                fetcher = _PooledStatusFetcher(self.spec, self.spec.status_params(identifiers), key, pool)
                pacer = _BudgetPacer(key, self.spec.operation, pool) if budgets_enabled() else None
                call_timeout = configured_call_timeout()
                listed = None if lister is None else status_lists.ListedStatus(
                    lister, identifiers[self.spec.identifiers[-1].name], lists_mode, call_timeout)
                verdict = await wait_until_done(tracker, fetcher, deadline=contract.deadline,
                                                call_timeout=call_timeout, pacer=pacer, lister=listed)
        except asyncio.CancelledError:
            if not TRIGGER_ON_KILL.available:
                # Below 3.3 a user's kill arrives only as this cancellation, like a triggerer
                # shutting down or a trigger moving to another triggerer: the task state tells.
                await self._stop_if_task_was_killed()
            raise
        if contract.end_task_on_success and verdict.outcome is Outcome.SUCCESS:
            self.log.info("%s Ending the task from the triggerer.", verdict.message)
            yield TaskSuccessEvent(xcoms={"return_value": verdict.response})
            return
        yield TriggerEvent(verdict.event_payload(identifiers))

    async def on_kill(self) -> None:
        """Airflow >= 3.3 calls this when it cancels the trigger "as a user action"."""
        await self._stop_if_task_was_killed()

    async def _stop_if_task_was_killed(self) -> None:
        """Stop the query this trigger's operator started, if its task really was killed.

        Airflow also cancels a trigger when its triggerer shuts down, and (3.3, apache/airflow
        PR #73454) when a triggerer that is still alive finds its trigger was reassigned, in
        the same way as a user's kill. Only a task instance that is no longer deferred was
        killed, cleared or marked by a user; a deferred one is waited on elsewhere, and an
        unknown state leaves the query alone too.
        """
        if not self.wait.stop_on_kill or self.spec.stop_operation is None:
            return
        # The triggerer may cancel us again while we ask for the state or stop the query (it
        # re-cancels triggers it no longer owns on every loop): the decision and the stop run
        # as their own task, which a further cancellation of this coroutine does not abort.
        decision = asyncio.ensure_future(self._decide_and_stop())
        _in_flight.add(decision)
        decision.add_done_callback(_in_flight.discard)
        await asyncio.shield(decision)

    async def _decide_and_stop(self) -> None:
        stop_operation = self.spec.stop_operation
        assert stop_operation is not None  # checked by the caller
        subject = self.spec.describe(self.identifiers)
        state = await task_instance_state(self)
        if state is None or state == "deferred":
            why = "its state is unknown" if state is None else "it is still deferred (the trigger moved or restarts)"
            self.log.info("Trigger cancelled; leaving %s running because %s.", subject, why)
            return
        pool = shared_pool()
        key = self.client_key()
        params = self.spec.api_params(self.identifiers)

        async def stop_once() -> None:
            async with pool.borrow(key) as client, asyncio.timeout(configured_call_timeout()):
                await getattr(client, stop_operation)(**params)

        try:
            async with pool.subscribe(key):
                await call_retrying_transient_errors(stop_once, operation=stop_operation)
        except Exception:
            self.log.exception("The task was killed (now %s) but stopping %s failed; stop it by hand.", state, subject)
        else:
            self.log.info("The task was killed (now %s): stopped %s.", state, subject)


# The contract's settings also read as attributes (``trigger.deadline``), as before, and can
# be set: Airflow 3.3's triggerer renders a start_from_trigger sensor's templated fields
# (``aws_conn_id``, ...) by assigning them on the trigger, which then waits with the result.
def _contract_field(name: str) -> property:
    def read(self: QueryStatusTrigger) -> Any:
        return getattr(self.wait, name)

    def write(self: QueryStatusTrigger, value: Any) -> None:
        self.wait = self.wait.replace(**{name: value})

    return property(read, write, doc=f"The contract's ``{name}``.")


for _name in sorted(_CONTRACT_FIELDS):
    setattr(QueryStatusTrigger, _name, _contract_field(_name))
