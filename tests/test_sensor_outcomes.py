"""The outcome table of issue 2, for every operation in poke, reschedule and deferrable mode."""

from __future__ import annotations

import json
import pickle

import botocore.session
import pytest
from botocore import xform_name

from airflow_querystatus.compat import AirflowFailException, AirflowSensorTimeout
from airflow_querystatus.exceptions import QueryCallerError, QueryFailedError, QueryStatusUnavailableError
from airflow_querystatus.status import StatusSpec
from tests.cases import CASE_IDS, CASES, DEFERRABLE, MODES, Case, mode_kwargs
from tests.harness import run_sensor

pytestmark = pytest.mark.usefixtures("emulator")


def status_members(spec: StatusSpec) -> set[str]:
    model = botocore.session.get_session().get_service_model(spec.service)
    return set(model.operation_model(model.operation_names[[xform_name(n) for n in model.operation_names].index(
        spec.operation)]).output_shape.members)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_success_returns_json_safe_final_answer(case: Case, mode: str, emulator) -> None:
    query = case.plant(emulator, case.success_steps())
    run = run_sensor(case.sensor(query.query_id, **mode_kwargs(mode)))
    assert run.outcome == "success", run.error
    json.dumps(run.value)  # XCom-safe as returned
    if case.vanishes:
        assert run.value["queryId"] == query.query_id and run.value["state"] == "FINISHED"
        assert run.value["outcomeReported"] is False
        if mode != "reschedule":  # a rescheduled poke has no memory of the last listing
            assert run.value["lastStatus"]["queryId"] == query.query_id
    else:  # the status answer as the model declares it, less what the spec leaves out
        assert case.spec.read_state(run.value) == case.success
        assert set(run.value) <= status_members(case.spec) - case.spec.omitted_members
    if mode == "deferrable":
        assert run.deferrals == 1 and run.events[0]["status"] == "success"
        assert run.events[0]["state"] == case.success
        assert run.events[0][case.id_arg] == query.query_id
    if mode == "reschedule":
        assert run.reschedules >= 2


@pytest.mark.prepared_sensitive
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_deferrable_sensor_on_a_query_already_succeeded_ends_on_the_worker(case: Case, emulator) -> None:
    query = case.plant(emulator, [case.success])
    run = run_sensor(case.sensor(query.query_id, deferrable=True))
    assert run.outcome == "success", run.error
    if case.vanishes:  # a finished Neptune query is gone from its status call: the trigger judges that
        assert run.deferrals == 1
        return
    assert run.deferrals == 0 and query.status_calls == 1  # one call, no trigger
    poked = run_sensor(case.sensor(case.plant(emulator, [case.success]).query_id, **mode_kwargs("poke")))
    assert set(run.value) == set(poked.value)  # the XCom poke mode returns
    assert case.spec.read_state(run.value) == case.success


@pytest.mark.prepared_sensitive
@pytest.mark.parametrize("case", [c for c in CASES if not c.vanishes], ids=lambda c: c.name)
def test_deferrable_sensor_defers_on_any_other_first_answer(case: Case, emulator, logs) -> None:
    """A failure state, a pending state or an error before deferring: the trigger decides, as
    it always did (one place words and logs each outcome)."""
    failed = case.plant(emulator, case.failure_steps()[-1:])
    run = run_sensor(case.sensor(failed.query_id, deferrable=True))
    assert run.deferrals == 1 and isinstance(run.error, QueryFailedError)
    flaky = case.plant(emulator, [case.success], faults=[{"error": "ServiceUnavailableException", "count": 1}])
    run = run_sensor(case.sensor(flaky.query_id, deferrable=True))
    assert run.deferrals == 1 and run.outcome == "success", run.error
    assert f"{flaky.query_id!r}): no status before deferring (" in logs()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_failure_state_fails_without_retry_naming_state_and_reason(case: Case, mode: str, emulator) -> None:
    query = case.plant(emulator, case.failure_steps())
    run = run_sensor(case.sensor(query.query_id, **mode_kwargs(mode)))
    assert run.outcome == "failed"
    assert isinstance(run.error, QueryFailedError)
    assert isinstance(run.error, AirflowFailException)  # no Airflow retry: the state is final
    message = str(run.error)
    assert case.failure in message and query.query_id in message and "Task 'wait_" in message
    if case.reason:
        assert case.reason in message
    spec = case.sensor_cls.spec
    # the same facts as fields, for callbacks and alerting; they survive pickling
    for error in (run.error, pickle.loads(pickle.dumps(run.error))):
        assert error.operation == spec.operation and error.identifiers[case.id_arg] == query.query_id
        assert error.state == case.failure and error.last_answer is not None and str(error) == message


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_soft_fail_skips_on_failure_state(case: Case, mode: str, emulator) -> None:
    query = case.plant(emulator, case.failure_steps())
    run = run_sensor(case.sensor(query.query_id, soft_fail=True, **mode_kwargs(mode)))
    assert run.outcome == "skipped"


#: How each transient fault is told apart happens below Airflow (botocore, the engine): one of
#: them runs on every line, all of them on the lines CI runs line_independent tests on.
TRANSIENT_FAULTS = ["ThrottlingException", *(pytest.param(fault, marks=pytest.mark.line_independent)
                                             for fault in ("InternalServerException", "html502", "reset"))]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", TRANSIENT_FAULTS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_throttling_and_transient_errors_are_waited_out(case: Case, mode: str, fault: str, emulator) -> None:
    if fault == "html502":
        spec = {"http_status": 502, "body": "<html><body>Bad Gateway</body></html>", "count": 3}
    elif fault == "reset":
        spec = {"reset": True, "count": 2}
    else:
        spec = {"error": fault, "count": 3}
    query = case.plant(emulator, case.success_steps(), faults=[spec])
    run = run_sensor(case.sensor(query.query_id, **mode_kwargs(mode)))
    assert run.outcome == "success", run.error
    # Every poll after the faults reached the script (Neptune's last one finds the id gone).
    assert query.status_calls == (2 if case.vanishes else 3)


@pytest.mark.parametrize("mode", ["poke", DEFERRABLE])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_exhausted_transient_budget_is_a_retryable_error(case: Case, mode: str, emulator) -> None:
    query = case.plant(emulator, case.success_steps(), faults=[{"error": "ThrottlingException", "count": 10_000}])
    run = run_sensor(case.sensor(query.query_id, transient_error_budget=0.3, **mode_kwargs(mode)))
    assert run.outcome == "failed"
    assert isinstance(run.error, QueryStatusUnavailableError)
    assert not isinstance(run.error, AirflowFailException)  # Airflow retries apply
    assert "ThrottlingException" in str(run.error) and "transient_error_budget" in str(run.error)


def test_reschedule_mode_waits_out_transient_errors_until_timeout(emulator) -> None:
    case = CASES[0]
    query = case.plant(emulator, case.success_steps(), faults=[{"error": "InternalServerException", "count": 10_000}])
    run = run_sensor(case.sensor(query.query_id, transient_error_budget=0.01, timeout=0.5, mode="reschedule"))
    assert isinstance(run.error, AirflowSensorTimeout)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_access_denied_fails_at_once_naming_the_iam_action(case: Case, mode: str, emulator) -> None:
    query = case.plant(emulator, case.success_steps(), faults=[{"error": "AccessDeniedException", "count": 100}])
    run = run_sensor(case.sensor(query.query_id, **mode_kwargs(mode)))
    assert isinstance(run.error, QueryCallerError)
    assert case.sensor_cls.spec.iam_action in str(run.error)
    assert "aws_default" in str(run.error)
    assert query.status_calls == 0 and run.reschedules == 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", [c for c in CASES if not c.vanishes], ids=lambda c: c.name)
def test_unknown_id_fails_at_once_saying_what_to_check(case: Case, mode: str, emulator) -> None:
    run = run_sensor(case.sensor("no-such-query", **mode_kwargs(mode)))
    assert isinstance(run.error, QueryCallerError)
    assert "no-such-query" in str(run.error) and "Check that the identifiers are right" in str(run.error)


@pytest.mark.parametrize("mode", MODES)
def test_neptune_query_that_vanishes_after_running_has_finished(mode: str, emulator, logs) -> None:
    case = next(c for c in CASES if c.kind == "neptune_open_cypher_query")
    query = case.plant(emulator, [("RUNNING", 2), "FINISHED"], text="MATCH (n) RETURN count(n)")
    run = run_sensor(case.sensor(query.query_id, fail_on_unknown_query_id=True, **mode_kwargs(mode)))
    assert run.outcome == "success", run.error
    assert run.value["state"] == "FINISHED"
    assert "does not report whether a finished query succeeded" in logs()


@pytest.mark.parametrize("mode", MODES)
def test_neptune_id_never_seen_is_assumed_finished_by_default(mode: str, emulator, logs) -> None:
    case = next(c for c in CASES if c.kind == "neptune_open_cypher_query")
    run = run_sensor(case.sensor("0f3c-never-listed", **mode_kwargs(mode)))
    assert run.outcome == "success"
    assert run.value["lastStatus"] is None and run.value["queryId"] == "0f3c-never-listed"
    assert "was never seen running" in logs()


@pytest.mark.parametrize("mode", MODES)
def test_neptune_id_never_seen_can_be_made_a_failure(mode: str, emulator) -> None:
    case = next(c for c in CASES if c.kind == "neptune_open_cypher_query")
    run = run_sensor(case.sensor("0f3c-never-listed", fail_on_unknown_query_id=True, **mode_kwargs(mode)))
    assert isinstance(run.error, QueryCallerError)
    assert "endpoint_url" in str(run.error) and "0f3c-never-listed" in str(run.error)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_timeout_raises_sensor_timeout_or_skips_with_soft_fail(case: Case, mode: str, emulator) -> None:
    query = case.plant(emulator, [case.pending])
    run = run_sensor(case.sensor(query.query_id, timeout=0.4, poll_interval=0.1, max_poll_interval=0.1,
                                 **mode_kwargs(mode)))
    assert isinstance(run.error, AirflowSensorTimeout)
    skipped = run_sensor(case.sensor(query.query_id, timeout=0.4, poll_interval=0.1, max_poll_interval=0.1,
                                     soft_fail=True, **mode_kwargs(mode)))
    assert skipped.outcome == "skipped"


@pytest.mark.parametrize("mode", MODES)
def test_state_unknown_to_the_model_keeps_waiting_and_warns_once(mode: str, emulator, logs) -> None:
    case = next(c for c in CASES if c.kind == "athena_calculation_execution")
    query = case.plant(emulator, [("REBALANCING", 3), "COMPLETED"])
    run = run_sensor(case.sensor(query.query_id, **mode_kwargs(mode)))
    assert run.outcome == "success"
    warnings = [line for line in logs().splitlines() if "'REBALANCING' is not one this provider knows" in line]
    assert warnings
    if mode != "reschedule":  # a rescheduled poke is a new process and warns again
        assert len(warnings) == 1


@pytest.mark.parametrize("mode", MODES)
def test_answer_without_state_keeps_waiting(mode: str, emulator, logs) -> None:
    case = CASES[0]
    empty = {"http_status": 200, "body": "{}", "content_type": "application/json", "count": 2}
    query = case.plant(emulator, case.success_steps(), faults=[empty])
    run = run_sensor(case.sensor(query.query_id, **mode_kwargs(mode)))
    assert run.outcome == "success"
    assert "answered without a state" in logs()


@pytest.mark.parametrize("mode", ["poke", DEFERRABLE])
def test_expired_credentials_rebuild_the_client_once(mode: str, emulator) -> None:
    case = CASES[0]
    query = case.plant(emulator, case.success_steps(), faults=[{"error": "ExpiredTokenException", "count": 1}])
    run = run_sensor(case.sensor(query.query_id, **mode_kwargs(mode)))
    assert run.outcome == "success", run.error

    query = case.plant(emulator, case.success_steps(), faults=[{"error": "ExpiredTokenException", "count": 5}])
    run = run_sensor(case.sensor(query.query_id, **mode_kwargs(mode)))
    assert isinstance(run.error, QueryCallerError)
    assert "expired" in str(run.error)


@pytest.mark.parametrize("mode", MODES)
def test_state_changes_are_logged_once_with_athena_progress(mode: str, emulator, logs) -> None:
    case = next(c for c in CASES if c.kind == "athena_calculation_execution")
    steps = [{"state": "RUNNING", "polls": 4, "progress": "3/7 stages"}, "COMPLETED"]
    query = case.plant(emulator, steps)
    run = run_sensor(case.sensor(query.query_id, **mode_kwargs(mode)))
    assert run.outcome == "success"
    running = [line for line in logs().splitlines() if f"'{query.query_id}') is RUNNING" in line]
    assert "progress=3/7 stages" in running[0] and "dpu_execution_ms=" in running[0]
    if mode != "reschedule":
        assert len(running) == 1  # four RUNNING answers, one log line


@pytest.mark.parametrize("mode", ["poke", DEFERRABLE])
def test_a_missing_ca_bundle_fails_at_once_naming_verify(mode: str, emulator_server) -> None:
    """TLS set-up errors are configuration, not transient: no 15-minute wait before failing."""
    import os

    from tests.conftest import aws_connection_uri

    saved = os.environ["AIRFLOW_CONN_AWS_DEFAULT"]
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection_uri(emulator_server.url.replace("http:", "https:"))
    try:
        case = CASES[0]
        run = run_sensor(case.sensor("q", verify="/nonexistent/ca-bundle.pem", transient_error_budget=600,
                                     **mode_kwargs(mode)))
    finally:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = saved
    assert isinstance(run.error, QueryCallerError)
    assert "`verify`" in str(run.error)
