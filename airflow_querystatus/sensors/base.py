"""The sensor base class: poke, reschedule and deferrable modes over one polling engine."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.triggers.base import StartTriggerArgs

from airflow_querystatus import front_doors
from airflow_querystatus.arguments import duration_seconds
from airflow_querystatus.compat import (
    START_FROM_TRIGGER,
    AirflowException,
    AirflowSensorTimeout,
    AirflowSkipException,
    PokeReturnValue,
    conf,
    rescheduled_before,
    warn_unsupported,
)
from airflow_querystatus.errors import ErrorKind, classify
from airflow_querystatus.exceptions import QueryCallerError, QueryFailedError, QueryStatusUnavailableError
from airflow_querystatus.hooks.base import QueryStatusHook
from airflow_querystatus.metrics import WaitMetrics
from airflow_querystatus.polling import EVENT_STATUSES, Outcome, StatusTracker, Verdict
from airflow_querystatus.status import StatusSpec
from airflow_querystatus.triggers.base import DEFER_TIMEOUT_GRACE, QueryStatusTrigger
from airflow_querystatus.wait import WaitSettings

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context



class QueryStatusSensor(WaitSettings, AwsBaseSensor[QueryStatusHook]):
    """Wait for one AWS query or calculation to reach a final state.

    The same AWS answers give the same outcome in every mode:

    * a success state: the task succeeds and returns the last status answer (JSON-safe);
    * a failure state: the task fails without retry, naming the state and AWS's reason
      (``soft_fail=True`` skips instead);
    * throttling and transient errors: backed off and retried; only
      ``transient_error_budget`` seconds of them in a row end the wait, as a retryable error;
    * caller errors (access denied, unknown ids, validation): fail at once, saying what to check;
    * ``timeout``: ``AirflowSensorTimeout`` (skipped with ``soft_fail``).

    :param poll_interval: Seconds between polls at first. In deferrable mode the interval
        then grows 1.5x per poll, jittered; in poke/reschedule mode Airflow's
        ``exponential_backoff`` grows it. Both stop at ``max_poll_interval``.
    :param max_poll_interval: The ceiling of the growing interval, in seconds.
    :param transient_error_budget: Seconds of unbroken throttling/5xx tolerated. In
        reschedule mode every poke is a fresh process, so there the budget cannot span
        pokes: transient errors keep the sensor waiting until ``timeout``.
    :param deferrable: Wait in the triggerer, freeing the worker slot (default from
        ``[operators] default_deferrable``). The sensor makes one status call first: a query
        that has already succeeded ends the task on the worker, without deferring; any other
        answer defers. It wins over ``mode``: with ``deferrable=True`` the
        sensor defers whatever ``mode`` says, as Airflow's own deferrable sensors do, and a
        ``mode="reschedule"`` given with it is warned about once, when the DAG is parsed.
    :param start_from_trigger: With ``deferrable``, let the scheduler hand the wait straight
        to the triggerer: no worker slot is taken before the wait, and none after a success
        either (the trigger ends the task, the status answer as its XCom) unless an
        ``on_success_callback`` or ``outlets`` need a worker; other outcomes resume on a
        worker briefly to raise the right error. Needs Airflow >= 3.3 (the scheduler ignores it on 3.1
        and 3.2, and 3.0's triggerer does not render templates); on older lines the sensor
        warns once and defers from a worker as usual. The timeout is then counted by the
        scheduler from the moment the task is deferred.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region; the connection's if not given.
    :param verify: Whether to verify TLS certificates (True, False, None for botocore's default),
        or the path of a CA bundle.
    :param botocore_config: Keyword arguments for ``botocore.config.Config``, or a ``Config``
        (turned into its arguments, so that deferrable mode can carry it to the triggerer).

    Every argument is checked when the sensor is built, the same way in every mode, and a
    value that cannot work fails there naming the task and the argument.
    """

    spec: ClassVar[StatusSpec]
    #: The operation's trigger class, called with identifiers and wait arguments (derived).
    trigger_class: ClassVar[Callable[..., QueryStatusTrigger]]
    ui_color = "#f0eee4"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass with ``spec = ...`` is that operation's sensor: its trigger class, hook
        class and template fields (the identifiers and templated extras) follow from the spec;
        its ``__init__`` and docstring must name every identifier and extra (``front_doors``)."""
        super().__init_subclass__(**kwargs)
        spec = front_doors.attach(cls)
        if spec is None:
            return
        cls.template_fields = aws_template_fields(*front_doors.templated_names(spec))
        front_doors.check_signature(cls, front_doors.argument_names(spec))
        front_doors.check_documented(cls, front_doors.argument_names(spec))

    def __init__(
        self,
        *,
        identifiers: Mapping[str, Any] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        start_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        owner = f"{type(self).__name__}(task_id={kwargs.get('task_id')!r})"
        identifiers = {**(identifiers or {}), **{i.name: kwargs.pop(i.name) for i in self.spec.identifiers
                                                  if i.name in kwargs}}
        extras = {e.name: kwargs.pop(e.name, e.default) for e in self.spec.extras}
        settings = self.take_wait_settings(kwargs, owner)
        if kwargs.get("timeout") is not None:  # Airflow's own check would fail deep in timedelta
            duration_seconds("timeout", kwargs["timeout"], owner=owner)
        polling = settings.options_for(owner)  # with [querystatus] max_poll_interval_override applied
        kwargs.setdefault("poke_interval", polling.poll_interval)
        if polling.max_poll_interval > polling.poll_interval:
            kwargs.setdefault("exponential_backoff", True)
            kwargs.setdefault("max_wait", polling.max_poll_interval)
        super().__init__(**kwargs)
        if self.timeout < settings.poll_interval:
            raise ValueError(
                f"{owner}: `timeout` ({self.timeout:g}s) is shorter than one `poll_interval` "
                f"({settings.poll_interval:g}s); the sensor could poll at most once."
            )
        self.keep_wait_settings(settings, extras, owner)
        self.deferrable = deferrable
        if deferrable and self.mode == "reschedule":
            self.log.warning("%s: `mode='reschedule'` is ignored because `deferrable=True`: the sensor waits in the "
                             "triggerer, which frees the worker slot as reschedule mode would. Pass one of the two.",
                             owner)
        for name, value in identifiers.items():
            setattr(self, name, value)
        self._check_identifiers_at_parse_time(owner)
        self._tracker: StatusTracker | None = None
        self._poke_deadline: float | None = None
        if start_from_trigger and not deferrable:
            raise ValueError(f"{owner}: `start_from_trigger=True` needs `deferrable=True`.")
        if start_from_trigger and not START_FROM_TRIGGER.available:
            warn_unsupported(START_FROM_TRIGGER, owner)
        elif start_from_trigger:
            self.start_from_trigger = True
            # Nothing needs a worker after a success unless a callback or an asset event does:
            # then the trigger ends the task itself, and the sensor never takes a worker slot.
            worker_free = not self.on_success_callback and not self.outlets
            contract = self.wait_contract(deadline=None, end_task_on_success=worker_free)
            self.start_trigger_args = StartTriggerArgs(
                trigger_cls=f"{self.trigger_class.__module__}.{self.trigger_class.__qualname__}",
                trigger_kwargs={**identifiers, **contract.to_kwargs()},
                next_method="execute_complete",
                next_kwargs=None,
                timeout=timedelta(seconds=self.timeout),
            )

    # -- identifiers ----------------------------------------------------------------------
    def _check_identifiers_at_parse_time(self, owner: str) -> None:
        """Reject what can never become a valid identifier; templates are checked at run time."""
        for ident in self.spec.identifiers:
            value = getattr(self, ident.name)
            if value is None or isinstance(value, (bool, int, float, bytes)):
                raise ValueError(
                    f"{owner}: `{ident.name}` must be a non-empty string or a template, got "
                    f"{type(value).__name__} {value!r}."
                )
            if isinstance(value, str) and "{{" not in value and "{%" not in value:
                ident.validate(value, owner=owner)

    def _identifiers(self) -> dict[str, str]:
        """The rendered identifiers, fully validated before any AWS call."""
        values = {ident.name: getattr(self, ident.name) for ident in self.spec.identifiers}
        return self.spec.validate(values, owner=f"Task {self.task_id!r}")

    # -- deferrable -----------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        identifiers = self._identifiers()
        if not self.deferrable:
            return super().execute(context)
        deadline = time.time() + self.timeout
        finished = self._finished_before_deferring(context, identifiers)
        if finished is not None:
            return self._conclude(finished)
        self.defer(
            trigger=self._trigger(identifiers, deadline=deadline),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) + DEFER_TIMEOUT_GRACE,
        )

    def _finished_before_deferring(self, context: Context, identifiers: dict[str, str]) -> Verdict | None:
        """The success verdict when one status call finds the query already succeeded, else None.

        A sensor often waits on a query an upstream task started, which may have finished by
        the time the sensor runs: it then succeeds here, on the worker, as Airflow's own
        deferrable sensors do when their condition already holds. No trigger is created, and
        Airflow's race that can fail a task whose trigger fires within a second or two of its
        deferral (RELIABILITY.md, "Known limits") cannot hit it. Any other answer, and any
        error, defers: the trigger then polls and judges it exactly as it always does, so
        every outcome but an early success is decided, worded and logged in one place. The
        call counts in the ``polls`` metric (and a transient error in its own) all the same.

        An operation whose finished queries vanish (Neptune) cannot show a success here, and
        what the trigger makes of an absent query depends on its having seen it running: it
        defers at once.
        """
        if self.spec.vanishes is not None:
            return None
        try:
            response = self.hook.get_status(self.spec, identifiers, remaining=self.timeout)
        except Exception as exc:  # the trigger's first poll meets it again and judges it
            self._count_poll_before_deferring(exc)
            self.log.info("%s: no status before deferring (%s: %s); the trigger polls it.",
                          self.spec.describe(identifiers), type(exc).__name__, exc)
            return None
        state = self.spec.read_state(response)
        if not isinstance(state, str) or state not in self.spec.success_states:
            self._count_poll_before_deferring(None)
            return None
        return self._tracker_for(context, identifiers).observe(response)  # a success; counts the poll

    def _count_poll_before_deferring(self, error: BaseException | None) -> None:
        metrics = WaitMetrics(self.spec.key)
        metrics.poll()
        if error is not None:
            kind = classify(error, not_found_codes=self.spec.not_found_codes, vanished_codes=self.spec.vanished_codes)
            if kind.kind is ErrorKind.TRANSIENT:
                metrics.transient(throttled=kind.throttled)

    def _trigger(self, identifiers: dict[str, str], *, deadline: float) -> QueryStatusTrigger:
        return self.trigger_class(**identifiers, wait=self.wait_contract(deadline=deadline))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Turn the trigger's event into the task's outcome (the same as ``poke`` would)."""
        if not isinstance(event, dict) or event.get("status") not in EVENT_STATUSES:
            raise AirflowException(f"Task {self.task_id!r}: the trigger returned an unexpected event {event!r}.")
        return self._conclude(Verdict.from_event(event))

    # -- poke / reschedule ----------------------------------------------------------------
    def poke(self, context: Context) -> bool | PokeReturnValue:
        identifiers = self._identifiers()
        tracker = self._tracker_for(context, identifiers)
        verdict = self._poll_once(tracker, identifiers)
        if not verdict.done:
            return False
        try:
            return PokeReturnValue(is_done=True, xcom_value=self._conclude(verdict))
        except QueryStatusUnavailableError as err:
            # Match deferrable mode, where Airflow's resume_execution skips on any error.
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(str(err)) from err
            raise

    def _tracker_for(self, context: Context, identifiers: dict[str, str]) -> StatusTracker:
        if self.reschedule or self._tracker is None:
            # In reschedule mode each poke runs in a new process: the only memory is that an
            # earlier poke rescheduled, i.e. it saw the query still running.
            self._tracker = StatusTracker(
                self.spec,
                identifiers,
                self.wait_options(),
                aws_conn_id=self.aws_conn_id,
                extras=self.extras(),
                seen_running=self.reschedule and rescheduled_before(context),
                logger=self.log,
                metrics=WaitMetrics(self.spec.key),
            )
        return self._tracker

    def _remaining(self) -> float | None:
        """Seconds left of ``timeout`` in poke mode (counted from this process's first poke), to
        bound each call by; a rescheduled poke knows no start, only the per-call limit."""
        if self.reschedule:
            return None
        if self._poke_deadline is None:
            self._poke_deadline = time.time() + self.timeout
        return self._poke_deadline - time.time()

    def _poll_once(self, tracker: StatusTracker, identifiers: dict[str, str]) -> Verdict:
        for _attempt in range(2):
            try:
                return tracker.observe(self.hook.get_status(self.spec, identifiers, remaining=self._remaining()))
            except Exception as exc:  # classified by the tracker; nothing is swallowed
                verdict = tracker.observe_error(exc)
                if verdict.outcome is not Outcome.REBUILD_CLIENT:
                    return verdict
                self.hook.reset_client()
        return verdict

    # -- outcome --------------------------------------------------------------------------
    def _conclude(self, verdict: Verdict) -> Any:
        message = f"Task {self.task_id!r}: {verdict.message}"
        if verdict.outcome is Outcome.SUCCESS:
            self.log.info("%s", verdict.message)
            return verdict.response
        if verdict.outcome is Outcome.TIMEOUT:
            raise AirflowSensorTimeout(message)
        error = (QueryFailedError if verdict.outcome is Outcome.FAILURE
                 else QueryStatusUnavailableError if verdict.retryable else QueryCallerError)
        raise error(message, operation=self.spec.operation, identifiers=self._named_query(),
                    state=verdict.state, last_answer=verdict.response)

    def _named_query(self) -> dict[str, str]:
        """The identifiers as rendered, for an error's fields (unchecked: the error may be
        that they are wrong)."""
        return {ident.name: str(getattr(self, ident.name, "")) for ident in self.spec.identifiers}
