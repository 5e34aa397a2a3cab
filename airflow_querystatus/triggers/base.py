"""The trigger base class: serialize the wait, run the polling engine, yield one event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent

from airflow_querystatus.clients import ClientKey, SharedClientPool, shared_pool
from airflow_querystatus.compat import TRIGGER_ON_KILL, task_instance_state
from airflow_querystatus.polling import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TRANSIENT_ERROR_BUDGET,
    Outcome,
    StatusTracker,
    Verdict,
    WaitOptions,
    wait_until_done,
)
from airflow_querystatus.status import StatusSpec

#: The scheduler's own defer timeout is this much later than the trigger's deadline, so the
#: trigger always reports the timeout first: an operator can then stop its query, and a sensor's
#: ``soft_fail`` skips on every line (Airflow 3.0's ``resume_execution`` fails instead of
#: skipping when the scheduler's timeout fires first).
DEFER_TIMEOUT_GRACE = timedelta(seconds=60)


#: Stop decisions under way; held so that a shielded one is not garbage-collected.
_in_flight: set[asyncio.Future[None]] = set()


def _is_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


class _PooledStatusFetcher:
    """Makes the status call through the process-wide shared client."""

    def __init__(self, spec: StatusSpec, params: dict[str, str], key: ClientKey, pool: SharedClientPool) -> None:
        self._operation = spec.operation
        self._params = params
        self._key = key
        self._pool = pool

    async def fetch(self) -> Mapping[str, Any]:
        async with self._pool.borrow(self._key) as client:
            response: Mapping[str, Any] = await getattr(client, self._operation)(**self._params)
            return response

    async def refresh(self) -> None:
        await self._pool.invalidate(self._key)


class QueryStatusTrigger(BaseTrigger):
    """Wait in the triggerer for one AWS query or calculation to reach a final state.

    Yields exactly one :class:`~airflow.triggers.base.TriggerEvent` whose payload has
    ``status`` (``success``, ``failure``, ``error`` or ``timeout``), ``state`` (the last
    state seen), ``message``, ``retryable``, the identifiers, and ``response`` (the last
    status answer, JSON-safe).

    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region; the connection's if not given.
    :param verify: Whether to verify TLS certificates, or a CA bundle path.
    :param botocore_config: Keyword arguments for ``botocore.config.Config``.
    :param poll_interval: Seconds before the second poll (the first is immediate); each
        later interval is 1.5x longer, jittered, up to ``max_poll_interval``.
    :param max_poll_interval: The ceiling of the adaptive interval, in seconds.
    :param transient_error_budget: Seconds of unbroken throttling or transient errors
        tolerated before the wait ends with a retryable error.
    :param deadline: UNIX timestamp after which the wait ends with ``timeout``. Absolute,
        so that a trigger rebuilt after a triggerer restart keeps the original deadline.
    :param stop_on_kill: Stop the remote query if the deferred task is killed (set by the
        operators, which own the query they started; sensors leave other people's queries be).
    :param end_task_on_success: On success, end the task from the triggerer
        (``TaskSuccessEvent``, the status answer as its XCom) instead of resuming it on a
        worker. Set by sensors that start from the trigger and need no worker afterwards;
        every other outcome still resumes the task, so failures keep the sensor's semantics.
    """

    spec: ClassVar[StatusSpec]

    def __init__(
        self,
        *,
        identifiers: Mapping[str, str],
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        transient_error_budget: float = DEFAULT_TRANSIENT_ERROR_BUDGET,
        deadline: float | None = None,
        endpoint_url: str | None = None,
        fail_on_unknown_query_id: bool = False,
        stop_on_kill: bool = False,
        end_task_on_success: bool = False,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        # Identifiers are attributes so that Airflow can render them in the triggerer when a
        # sensor starts from the trigger (``start_from_trigger``); a templated value is
        # checked after rendering, in run(), any other value here.
        for ident in self.spec.identifiers:
            value = identifiers.get(ident.name)
            setattr(self, ident.name, value)
            if not _is_template(value):
                ident.validate(value, owner=owner)
        self.options = WaitOptions.checked(
            owner,
            poll_interval=poll_interval,
            max_poll_interval=max_poll_interval,
            transient_error_budget=transient_error_budget,
            fail_on_unknown_query_id=fail_on_unknown_query_id,
        )
        if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, (int, float))):
            raise ValueError(f"{owner}: `deadline` must be a UNIX timestamp (seconds), got {deadline!r}.")
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.deadline = deadline
        self.endpoint_url = endpoint_url
        self.stop_on_kill = stop_on_kill
        self.end_task_on_success = end_task_on_success

    @staticmethod
    def wait_kwargs(task: Any, *, deadline: float | None) -> dict[str, Any]:
        """The connection and polling arguments, read off the sensor or operator that defers."""
        return {
            "aws_conn_id": task.aws_conn_id,
            "region_name": task.region_name,
            "verify": task.verify,
            "botocore_config": task.botocore_config,
            "poll_interval": task.poll_interval,
            "max_poll_interval": task.max_poll_interval,
            "transient_error_budget": task.transient_error_budget,
            "deadline": deadline,
        }

    @property
    def identifiers(self) -> dict[str, str]:
        return {ident.name: getattr(self, ident.name) for ident in self.spec.identifiers}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}", {
            **self.identifiers,
            "aws_conn_id": self.aws_conn_id,
            "region_name": self.region_name,
            "verify": self.verify,
            "botocore_config": self.botocore_config,
            "poll_interval": self.options.poll_interval,
            "max_poll_interval": self.options.max_poll_interval,
            "transient_error_budget": self.options.transient_error_budget,
            "deadline": self.deadline,
            "stop_on_kill": self.stop_on_kill,
            "end_task_on_success": self.end_task_on_success,
            **self._extra_serialized(),
        }

    def _extra_serialized(self) -> dict[str, Any]:
        """Arguments only some operations have (Neptune's endpoint)."""
        return {}

    def client_key(self) -> ClientKey:
        return ClientKey.build(
            self.spec.service,
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            endpoint_url=self.endpoint_url,
            verify=self.verify,
            botocore_config=self.botocore_config,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            identifiers = self.spec.validate(self.identifiers, owner=type(self).__name__)
        except ValueError as err:
            yield TriggerEvent(Verdict(Outcome.ERROR, None, str(err)).event_payload(self.identifiers))
            return
        tracker = StatusTracker(self.spec, identifiers, self.options, aws_conn_id=self.aws_conn_id, logger=self.log)
        pool = shared_pool()
        key = self.client_key()
        try:
            async with pool.subscribe(key):
                fetcher = _PooledStatusFetcher(self.spec, self.spec.api_params(identifiers), key, pool)
                verdict = await wait_until_done(tracker, fetcher, deadline=self.deadline)
        except asyncio.CancelledError:
            if not TRIGGER_ON_KILL.available:
                # Below 3.3 a user's kill arrives only as this cancellation, like a triggerer
                # shutting down or a trigger moving to another triggerer: the task state tells.
                await self._stop_if_task_was_killed()
            raise
        if self.end_task_on_success and verdict.outcome is Outcome.SUCCESS:
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
        if not self.stop_on_kill or self.spec.stop_operation is None:
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
        try:
            async with pool.subscribe(key), pool.borrow(key) as client:
                await getattr(client, stop_operation)(**self.spec.api_params(self.identifiers))
        except Exception:
            self.log.exception("The task was killed (now %s) but stopping %s failed; stop it by hand.", state, subject)
        else:
            self.log.info("The task was killed (now %s): stopped %s.", state, subject)
