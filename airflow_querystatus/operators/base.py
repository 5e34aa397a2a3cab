"""The operator base class: start a query, wait on it (deferrable or in place), fetch results.

The wait is the sensors' engine and trigger. What an operator adds is ownership of the
query: it stops the query when the task is killed (``on_kill`` on the worker, the
trigger's ``on_kill`` while deferred), when the wait times out, and when anything fails
after the query started. A query that ends FAILED or CANCELED fails the task *with*
Airflow retries, since a retry starts a new query.
"""

from __future__ import annotations

import functools
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import botocore.session
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from botocore import xform_name
from botocore.model import OperationModel
from botocore.validate import ParamValidator

from airflow_querystatus import front_doors
from airflow_querystatus.arguments import botocore_config_dict, duration_seconds, positive_int
from airflow_querystatus.bounds import call_with_limit, configured_call_timeout
from airflow_querystatus.compat import ObjectStoragePath, conf, query_memory
from airflow_querystatus.errors import ErrorKind, classify
from airflow_querystatus.exceptions import (
    QueryArgumentError,
    QueryCallerError,
    QueryEventError,
    QueryExecutionFailedError,
    QueryStatusUnavailableError,
    QueryWaitTimeoutError,
)
from airflow_querystatus.hooks.base import QueryStatusHook
from airflow_querystatus.jsonsafe import to_json_safe
from airflow_querystatus.metrics import WaitMetrics
from airflow_querystatus.polling import EVENT_STATUSES, Outcome, StatusTracker, Verdict, wait_until_done_sync
from airflow_querystatus.status import StatusSpec
from airflow_querystatus.task_calls import Phase, StopOutcome, StopReport, TaskCall, call_for_task
from airflow_querystatus.triggers.base import DEFER_TIMEOUT_GRACE, QueryStatusTrigger
from airflow_querystatus.wait import WaitSettings

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: Results larger than this (as JSON) are not pushed to XCom whole.
DEFAULT_MAX_XCOM_BYTES = 512 * 1024
#: Where ``task_state_store`` keeps the ids of the query a try started.
QUERY_MEMORY_KEY = "airflow_querystatus.query"
#: How many rows a summary keeps when the whole result is too big for XCom.
PREVIEW_ROWS = 10


class QueryOperator(WaitSettings, AwsBaseOperator[QueryStatusHook]):
    """Start an AWS query or calculation, wait for it, and return its results.

    :param poll_interval: Seconds before the second status poll; the interval then grows
        1.5x per poll, jittered, up to ``max_poll_interval``.
    :param max_poll_interval: The ceiling of the adaptive interval, in seconds.
    :param transient_error_budget: Seconds of unbroken throttling/5xx tolerated (retryable).
    :param wait_timeout: How long to wait for the query before stopping it and failing, in
        seconds or as a ``datetime.timedelta``. If not
        given, ``execution_timeout`` is used, else ``[sensors] default_timeout``. Airflow
        does not apply ``execution_timeout`` to deferred time, so this is always set.
    :param deferrable: Wait in the triggerer (default ``[operators] default_deferrable``).
    :param max_xcom_bytes: Results bigger than this (as JSON) are not returned whole: the
        task returns a summary (row count, a preview, and where the full result went).
    :param results_path: Where to write the full result as JSON when it is too big for
        XCom: any ``ObjectStoragePath`` URI (``s3://bucket/prefix/``, ``file:///data/``);
        the file is named after the DAG run, task and query. (templated)
    :param reattach: When a try of this task is retried (its worker died, its trigger failed),
        wait on the query the earlier try started if it still runs, take its result if it
        finished, and start a new one only if it failed or is gone; the log says which and
        why. Needs Airflow >= 3.3 (``task_state_store``); below it a retry warns once and
        starts anew. Default True.
    """

    spec: ClassVar[StatusSpec]
    #: The start call's members (API names) by the operator argument each comes from, so that a
    #: member botocore's model refuses is reported by the argument's name.
    start_arguments: ClassVar[Mapping[str, str]] = {}
    #: The operation's trigger class (derived from the spec).
    trigger_class: ClassVar[Callable[..., QueryStatusTrigger]]
    ui_color = "#ede4f0"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass with ``spec = ...`` is that operation's operator: its trigger class and
        hook class follow from the spec, and its template fields (the start call's arguments
        it declares) gain the spec's templated extras and ``results_path``."""
        super().__init_subclass__(**kwargs)
        spec = front_doors.attach(cls)
        if spec is None:
            return
        extras = [extra.name for extra in spec.extras if extra.templated]
        cls.template_fields = template_fields_with(*dict.fromkeys([*cls.template_fields, *extras]))

    def __init__(
        self,
        *,
        wait_timeout: float | timedelta | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_xcom_bytes: int = DEFAULT_MAX_XCOM_BYTES,
        results_path: str | None = None,
        reattach: bool = True,
        **kwargs: Any,
    ) -> None:
        owner = f"{type(self).__name__}(task_id={kwargs.get('task_id')!r})"
        extras = {e.name: kwargs.pop(e.name, e.default) for e in self.spec.extras}
        settings = self.take_wait_settings(kwargs, owner)
        super().__init__(**kwargs)
        self.keep_wait_settings(settings, extras, owner)
        #: Seconds (a ``timedelta`` is converted), or None.
        self.wait_timeout = None if wait_timeout is None else duration_seconds("wait_timeout", wait_timeout,
                                                                                owner=owner)
        self.deferrable = deferrable
        self.max_xcom_bytes = positive_int("max_xcom_bytes", max_xcom_bytes, owner=owner)
        self.results_path = results_path
        self.reattach = reattach
        self._started: dict[str, str] | None = None
        #: The start call's idempotency token (``spec.start_token``), one per try.
        self._start_token = uuid.uuid4().hex

    # -- what differs per operation ----------------------------------------------------------
    def start_query(self, context: Context) -> dict[str, str]:
        """Start the work; return the identifiers the status call takes."""
        raise NotImplementedError

    def fetch_results(self, identifiers: dict[str, str]) -> Any:
        """Read the results of a finished query (JSON-safe)."""
        raise NotImplementedError

    def failure_detail(self, identifiers: dict[str, str]) -> str:
        """More of the service's own reason for a query that ended in a failure state, where the
        status answer does not carry it (one sentence, or empty)."""
        return ""

    def send_start(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send the start call with ``params`` (API names): first checked against botocore's
        model, naming the task's argument of a member it refuses, then sent under the start-call
        policy (:mod:`airflow_querystatus.task_calls`): never repeated where a second query
        could start, and on a client without botocore's own retries unless the call is safe to
        repeat (an idempotency token, filled in here once per try, or a model marked idempotent)."""
        operation = str(self.spec.start_operation)
        params = dict(params)
        if self.spec.start_token:
            params[self.spec.start_token] = self._start_token
        self._check_against_model(operation, params)
        repeatable = bool(self.spec.start_token) or self.spec.start_idempotent
        method = getattr(self.hook.conn if repeatable else self._single_attempt_client(), operation)
        what = TaskCall(owner=self._owner, operation=operation, phase=Phase.START,
                        iam_action=self.spec.iam_action_of(operation), aws_conn_id=self.aws_conn_id,
                        subject=f"a new {self.spec.title}", repeatable=repeatable)
        answer: dict[str, Any] = call_for_task(lambda: method(**params), what, self.wait_options(), logger=self.log)
        return answer

    def _check_against_model(self, operation: str, params: Mapping[str, Any]) -> None:
        report = ParamValidator().validate(dict(params), _operation_model(self.spec.service, operation).input_shape)
        if not report.has_errors():
            return

        def by_argument(match: re.Match[str]) -> str:
            member = match.group(1)
            argument = self.start_arguments.get(member)
            return f"parameter {member} (the task's `{argument}`)" if argument else match.group(0)

        problems = re.sub(r"parameter ([A-Za-z0-9_]+)", by_argument, report.generate_report())
        raise QueryArgumentError(
            f"{self._owner}: the {self.spec.title} cannot be started with these arguments, as rendered: "
            f"{problems.replace(chr(10), '; ')}. Nothing was sent to AWS; fix the arguments (or what their "
            "templates read).", operation=operation)

    def _single_attempt_client(self) -> Any:
        """A client like the hook's whose botocore retries are off: botocore repeats a 5xx, which
        for a start call without an idempotency token could start a second query. Throttles are
        still waited out, by :func:`call_for_task` (AWS did not act on a throttled request)."""
        options = botocore_config_dict(self.botocore_config, owner=self._owner) or {}
        retries = {"mode": (options.get("retries") or {}).get("mode", "standard"), "total_max_attempts": 1}
        hook = self.aws_hook_class(**{**self._hook_parameters, "config": {**options, "retries": retries}})
        return hook.conn

    def argument_error(self, argument: str, problem: str) -> QueryArgumentError:
        """An argument that cannot be sent, named as the DAG names it, before any AWS call."""
        return QueryArgumentError(f"{self._owner}: `{argument}` {problem}. Nothing was sent to AWS; fix the argument "
                                  "(or what its template reads).", operation=self.spec.start_operation)

    # -- the common flow -----------------------------------------------------------------------
    def _wait_seconds(self) -> float:
        if self.wait_timeout is not None:
            return float(self.wait_timeout)
        if self.execution_timeout is not None:
            return self.execution_timeout.total_seconds()
        return conf.getfloat("sensors", "default_timeout")

    def execute(self, context: Context) -> Any:
        self._check_scope()
        earlier = self._query_of_an_earlier_try(context)
        if earlier is not None:
            identifiers, verdict = earlier
            if verdict.done:
                return self._finish(context, identifiers, verdict)
        else:
            identifiers = self.spec.validate(self.start_query(context), owner=f"Task {self.task_id!r}")
            self.log.info("Started %s.", self.spec.describe(identifiers))
            self._remember(context, identifiers)
        self._started = identifiers
        context["ti"].xcom_push(key="identifiers", value=identifiers)
        wait = self._wait_seconds()
        deadline = time.time() + wait
        if self.deferrable:
            self.defer(
                trigger=self.trigger_class(
                    **identifiers, wait=self.wait_contract(deadline=deadline, stop_on_kill=True)
                ),
                method_name="execute_complete",
                # Not needed to resume (the event names the query; dag.test() drops these),
                # but a worker still on 0.1.0 needs them to resume this task mid-upgrade.
                kwargs={"identifiers": identifiers},
                timeout=timedelta(seconds=wait) + DEFER_TIMEOUT_GRACE,
            )
        return self._finish(context, identifiers, self._wait_in_place(identifiers, deadline))

    def tracker(self, identifiers: dict[str, str], *, seen_running: bool) -> StatusTracker:
        """The decision core for one wait on the worker, with this task's log and metrics."""
        return StatusTracker(self.spec, identifiers, self.wait_options(), aws_conn_id=self.aws_conn_id,
                             extras=self.extras(), seen_running=seen_running, logger=self.log,
                             metrics=WaitMetrics(self.spec.key))

    def _wait_in_place(self, identifiers: dict[str, str], deadline: float, *, seen_running: bool = False) -> Verdict:
        """Wait on the worker (not deferrable) with the same engine as the trigger."""
        return wait_until_done_sync(
            self.tracker(identifiers, seen_running=seen_running),
            lambda remaining: self.hook.get_status(self.spec, identifiers, remaining=remaining),
            self.hook.reset_client,
            deadline=deadline,
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, *, identifiers: dict[str, str] | None = None
    ) -> Any:
        """Finish from the trigger's event alone: its payload names the query (see
        :meth:`Verdict.event_payload`).

        ``dag.test()`` (``airflow dags test``) on Airflow 2.11 to 3.3 resumes a deferred task
        with the event and drops the ``kwargs`` given to ``defer()``, so nothing may be needed
        from them. ``identifiers`` is still accepted: a task deferred by an earlier release
        (0.1.0 required it) resumes with it after an upgrade, and a task deferred by this one
        still passes it, so that a worker not yet upgraded can resume it too.
        """
        found = self._identifiers_of(event, identifiers)
        self._started = found
        if not isinstance(event, dict) or event.get("status") not in EVENT_STATUSES:
            stop = f" {self._stop(found, 'the trigger returned an unexpected event').sentence()}" if found else ""
            raise QueryEventError(f"Task {self.task_id!r}: the trigger returned an unexpected event {event!r}.{stop}",
                                  operation=self.spec.operation, identifiers=found)
        if found is None:
            raise QueryEventError(
                f"Task {self.task_id!r}: the trigger's event names no {self.spec.title} "
                f"({', '.join(i.name for i in self.spec.identifiers)}), so its results cannot be read: {event!r}."
            )
        return self._finish(context, found, Verdict.from_event(event))

    def _identifiers_of(self, event: object, given: dict[str, str] | None) -> dict[str, str] | None:
        """The query's identifiers: from the event payload, else from the legacy kwarg."""
        names = [ident.name for ident in self.spec.identifiers]
        if isinstance(event, dict) and all(isinstance(event.get(name), str) for name in names):
            return self.spec.validate({name: event[name] for name in names}, owner=self._owner)
        if given is not None:
            return self.spec.validate(given, owner=self._owner)
        return None

    def _check_scope(self) -> None:
        """Check the status call's identifiers that come from this task's own (rendered)
        arguments, such as the monitor or scope, before any AWS call, as a sensor does: a
        template that pulled a missing XCom must not reach the start call as the name 'None'.
        The query's own id (the last identifier) comes from the start call."""
        for ident in self.spec.identifiers[:-1]:
            if hasattr(self, ident.name):
                ident.validate(getattr(self, ident.name), owner=self._owner)

    # -- re-attach on retry ------------------------------------------------------------------
    def _remember(self, context: Context, identifiers: dict[str, str]) -> None:
        """Keep the started query's ids where the next try of this task can find them."""
        memory = query_memory(context, self._owner) if self.reattach else None
        if memory is not None:
            memory.set(QUERY_MEMORY_KEY, identifiers)

    def _query_of_an_earlier_try(self, context: Context) -> tuple[dict[str, str], Verdict] | None:
        """The query an earlier try of this task started, if it is still worth having.

        One status poll decides: still pending, wait on it; finished, take its result; failed,
        stopped or gone, None (start anew). Each case is logged with its reason.
        """
        memory = query_memory(context, self._owner) if self.reattach else None
        stored = memory.get(QUERY_MEMORY_KEY) if memory is not None else None
        if not isinstance(stored, dict):
            return None
        try:
            identifiers = self.spec.validate(stored, owner=self._owner)
        except ValueError as err:
            self.log.warning("Ignoring the query ids an earlier try left (%s); starting a new query.", err)
            return None
        subject = self.spec.describe(identifiers)
        tracker = self.tracker(identifiers, seen_running=True)
        try:
            verdict = tracker.observe(self.hook.get_status(self.spec, identifiers))
        except Exception as exc:  # classified: a caller error means the query is gone
            verdict = tracker.observe_error(exc)
        if not verdict.done:
            self.log.info("Re-attached to %s, started by an earlier try and still %s: waiting on it instead "
                          "of starting a new query.", subject, verdict.state or "running")
            return identifiers, Verdict(Outcome.PENDING, verdict.state, verdict.message)
        if verdict.outcome is Outcome.SUCCESS:
            self.log.info("%s, started by an earlier try, already finished (%s): taking its result instead "
                          "of starting a new query.", subject, verdict.state)
            return identifiers, verdict
        why = (f"it ended {verdict.state}" if verdict.outcome is Outcome.FAILURE
               else f"it can no longer be read ({verdict.message})")
        self.log.info("%s, started by an earlier try, is not worth waiting on: %s. Starting a new query.",
                      subject, why)
        return None

    def _forget(self, context: Context) -> None:
        """The query ended well: a later run of this task (e.g. a clear) starts anew."""
        memory = query_memory(context, self._owner) if self.reattach else None
        if memory is not None:
            memory.delete(QUERY_MEMORY_KEY)

    @property
    def _owner(self) -> str:
        return f"Task {self.task_id!r}"

    def _finish(self, context: Context, identifiers: dict[str, str], verdict: Verdict) -> Any:
        message = f"Task {self.task_id!r}: {verdict.message}"
        if verdict.outcome is Outcome.SUCCESS:
            results = to_json_safe(self._read_results(identifiers))
            self._forget(context)
            return self._bounded(context, identifiers, results)
        details: dict[str, Any] = {"operation": self.spec.operation, "identifiers": identifiers, "state": verdict.state,
                   "last_answer": verdict.response}
        if verdict.outcome is Outcome.FAILURE:
            more = self.failure_detail(identifiers)
            raise QueryExecutionFailedError(f"{message}{f' {more}' if more else ''} Airflow retries (if any) start "
                                            "a new query.", **details)
        stop = self._stop(identifiers, "the wait ended without a result").sentence()
        if verdict.outcome is Outcome.TIMEOUT:
            raise QueryWaitTimeoutError(f"{message} {stop} Raise `wait_timeout` to wait longer.", **details)
        if verdict.retryable:
            raise QueryStatusUnavailableError(f"{message} {stop}", **details)
        # A caller mistake (access denied, an unknown id...): a retry would start a new query only
        # to meet the same refusal.
        raise QueryCallerError(f"{message} {stop}", **details)

    def _read_results(self, identifiers: dict[str, str]) -> Any:
        """The finished query's results, under the task-call policy (a read: safe to repeat)."""
        operation = self.spec.results_operation or self.spec.operation
        what = TaskCall(owner=self._owner, operation=operation, phase=Phase.RESULTS,
                        iam_action=self.spec.iam_action_of(operation), aws_conn_id=self.aws_conn_id,
                        subject=self.spec.describe(identifiers), identifiers=identifiers)
        return call_for_task(lambda: self.fetch_results(identifiers), what, self.wait_options(), logger=self.log)

    def on_kill(self) -> None:
        """Killed while waiting on the worker: stop the query this task started."""
        if self._started is not None:
            self._stop(self._started, "the task was killed")

    def _stop(self, identifiers: dict[str, str], why: str) -> StopReport:
        """Stop the query and say truthfully what became of it: stopped, already ended (a stop
        refused because the query had finished), or not stopped (and how to stop it by hand)."""
        subject = self.spec.describe(identifiers)
        if self.spec.stop_operation is None:
            return StopReport(StopOutcome.NOT_STOPPABLE, subject)
        operation = self.spec.stop_operation
        params = self.spec.api_params(identifiers)
        by_hand = f"the {self.spec.service} client's {operation}({', '.join(f'{k}={v!r}' for k, v in params.items())})"
        try:
            stop = getattr(self.hook.conn, operation)
            # Bounded like a status call: a stuck endpoint must not hold a killed task forever.
            call_with_limit(lambda: stop(**params), configured_call_timeout(), operation)
        except Exception as err:  # reported, and the task still fails with the original reason
            detail = f"{operation} failed with {classify(err).detail}"
            ended = self._final_state(identifiers)
            if ended is not None:
                self.log.info("%s had already ended (%s) when it was to be stopped after %s (%s).",
                              subject, ended, why, detail)
                return StopReport(StopOutcome.ALREADY_ENDED, subject, state=ended)
            self.log.error("Could not stop %s after %s: %s. It may still be running: stop it by hand with %s.",
                           subject, why, detail, by_hand)
            return StopReport(StopOutcome.NOT_STOPPED, subject, by_hand=by_hand, detail=detail)
        self.log.warning("Stopped %s because %s.", subject, why)
        return StopReport(StopOutcome.STOPPED, subject)

    def _final_state(self, identifiers: dict[str, str]) -> str | None:
        """The query's state if one status call shows it ended (None if running or unknown)."""
        try:
            answer = self.hook.get_status(self.spec, identifiers)
        except Exception as err:
            vanished = classify(err, vanished_codes=self.spec.vanished_codes).kind is ErrorKind.VANISHED
            return "no longer listed: it ended" if vanished else None
        state = self.spec.read_state(answer)
        return state if state in self.spec.success_states | self.spec.failure_states else None

    # -- results that do not fit in XCom -------------------------------------------------------------
    def _bounded(self, context: Context, identifiers: dict[str, str], results: Any) -> Any:
        encoded = json.dumps(results)
        if len(encoded.encode()) <= self.max_xcom_bytes:
            return results
        rows = _rows_of(results)
        summary: dict[str, Any] = {
            "identifiers": identifiers,
            "truncated": True,
            "result_bytes": len(encoded.encode()),
            "row_count": len(rows) if rows is not None else None,
            "preview": rows[:PREVIEW_ROWS] if rows is not None else None,
        }
        if self.results_path:
            run_id = str(context.get("run_id", "run")).replace(":", "_").replace("+", "_")
            name = f"{self.dag_id}__{self.task_id}__{run_id}__{'_'.join(identifiers.values())[-64:]}.json"
            target = ObjectStoragePath(self.results_path) / name.replace("/", "_")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(encoded)
            summary["results_path"] = str(target)
            self.log.info("Results (%d bytes) written to %s; XCom holds a summary.", len(encoded), target)
        else:
            self.log.warning(
                "Results are %d bytes, more than max_xcom_bytes=%d: XCom holds a summary with %d rows "
                "of preview. Set `results_path` to keep the full result.",
                len(encoded), self.max_xcom_bytes, PREVIEW_ROWS,
            )
        return summary


@functools.cache
def _operation_model(service: str, operation: str) -> OperationModel:
    """botocore's model of ``service``'s boto3 method ``operation`` (loaded once per process)."""
    model = botocore.session.get_session().get_service_model(service)
    names = {xform_name(name): name for name in model.operation_names}
    return model.operation_model(names[operation])


def _rows_of(results: Any) -> list[Any] | None:
    """The longest list in a result (rows, topContributors, datapoints), for previews."""
    if isinstance(results, list):
        return results
    if isinstance(results, dict):
        lists = [v for v in results.values() if isinstance(v, list)]
        return max(lists, key=len) if lists else None
    return None


def template_fields_with(*names: str) -> Sequence[str]:
    from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

    return aws_template_fields(*names, "results_path")
