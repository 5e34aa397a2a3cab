"""Prepared status calls (airflow_querystatus.prepared) against the emulator, which verifies
every signature made with the test connection's key and with the keys its STS hands out.

A prepared poll must be indistinguishable from the plain client call: the same answer, the
same exception class, code, message and HTTP status, for every operation in the registry.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import botocore.auth
import pytest
from botocore.exceptions import ClientError

from airflow_querystatus import prepared
from airflow_querystatus.clients import ClientKey, create_client_through_hook, prepared_calls_enabled
from airflow_querystatus.prepared import StatusCall, request_differences
from tests.cases import CASE_IDS, CASES, Case
from tests.conftest import SECRET_KEY, edit_aws_default

#: These tests are about the prepared path, also when the suite runs with it turned off: the
#: option cannot change them, so CI does not run them again with it off.
pytestmark = [pytest.mark.usefixtures("prepared_calls_on"), pytest.mark.line_independent]


def _keep_every_error(exc: BaseException) -> bool:
    return True


@asynccontextmanager
async def client_for(service: str, **key_args: Any) -> AsyncIterator[Any]:
    """A client built the way triggers build theirs (through the hook, prepared calls attached)."""
    client, close = await create_client_through_hook(
        ClientKey.build(service, aws_conn_id="aws_default", region_name=None, **key_args))
    try:
        yield client
    finally:
        await close()


def plant(case: Case, emulator: Any, steps: list[Any], **kwargs: Any) -> tuple[str, dict[str, str]]:
    query = case.plant(emulator, steps, **kwargs)
    identifiers = {**case.scope, case.id_arg: query.query_id}
    return query.query_id, case.spec.api_params(case.spec.validate(identifiers, owner="test"))


def comparable(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer without what differs between any two calls: the request id and date, and the
    running query's progress figures (numbers and times, compared by type)."""
    metadata = answer.get("ResponseMetadata", {})
    return {**{k: _shape(v) for k, v in answer.items() if k != "ResponseMetadata"},
            "status": metadata.get("HTTPStatusCode"), "retries": metadata.get("RetryAttempts")}


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    if isinstance(value, (int, float, datetime.datetime)) and not isinstance(value, bool):
        return type(value).__name__
    return value


def run(coroutine: Awaitable[Any]) -> Any:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def polled(case: Case, params: dict[str, str], *, times: int) -> StatusCall:
    """A wait's status call after ``times`` polls on one client (each poll must succeed)."""
    call = StatusCall(case.spec.operation, params, _keep_every_error)

    async def go() -> None:
        async with client_for(case.spec.service) as client:
            for _ in range(times):
                await call(client)

    run(go())
    return call


# --------------------------------------------------------------------------- answers
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_prepared_polls_answer_exactly_as_the_plain_call(case: Case, emulator) -> None:
    # A query held in one state: both calls see the same answer.
    _, params = plant(case, emulator, [{"state": case.pending}])

    async def go() -> None:
        async with client_for(case.spec.service) as client:
            call = StatusCall(case.spec.operation, params, _keep_every_error)
            await call(client)  # plain: keeps the request as the template
            ours = await call(client)
            theirs = await getattr(client, case.spec.operation)(**params)
            assert (call.plain_polls, call.prepared_polls) == (1, 1)
            assert comparable(ours) == comparable(theirs)
            assert case.spec.read_state(ours) == case.pending

    run(go())


ERRORS = ["ThrottlingException", "AccessDeniedException", "InternalServerException", "ValidationException"]


@pytest.mark.parametrize("code", ERRORS)
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_prepared_polls_raise_exactly_as_the_plain_call(case: Case, code: str, emulator) -> None:
    query_id, params = plant(case, emulator, [{"state": case.pending}])

    async def failure(call: Callable[[], Awaitable[Any]]) -> ClientError:
        emulator.query(query_id).faults.append(prepared_fault(code))
        with pytest.raises(ClientError) as raised:
            await call()
        return raised.value

    async def go() -> None:
        async with client_for(case.spec.service, botocore_config={"retries": {"total_max_attempts": 1}}) as client:
            call = StatusCall(case.spec.operation, params, _keep_every_error)
            await call(client)
            ours = await failure(lambda: call(client))
            theirs = await failure(lambda: getattr(client, case.spec.operation)(**params))
            assert call.prepared_polls == 1
            # The plain call's text adds "(reached max retries: 0)": botocore's retry handler
            # marks the answer it gave up on; a prepared poll makes one attempt and no retries.
            assert type(ours) is type(theirs) and ours.operation_name == theirs.operation_name
            assert ours.response["Error"] == theirs.response["Error"]
            assert ours.response["ResponseMetadata"]["HTTPStatusCode"] >= 400
            assert ours.response["ResponseMetadata"]["HTTPStatusCode"] == theirs.response["ResponseMetadata"][
                "HTTPStatusCode"]

    run(go())


def prepared_fault(code: str) -> Any:
    from airflow_querystatus.emulator.model import Fault

    return Fault(error=code, count=1)


def test_a_wrong_secret_is_refused_on_prepared_polls_too(monkeypatch: pytest.MonkeyPatch, emulator) -> None:
    case = CASES[0]
    _, params = plant(case, emulator, [{"state": case.pending}])
    edit_aws_default(monkeypatch, password="not-the-secret")

    async def go() -> None:
        async with client_for(case.spec.service) as client:
            call = StatusCall(case.spec.operation, params, _keep_every_error)
            for _ in range(2):
                with pytest.raises(ClientError, match="InvalidSignatureException"):
                    await call(client)

    run(go())


# --------------------------------------------------------------------------- signing
@pytest.fixture
def clock(emulator) -> Iterator[list[datetime.datetime]]:
    """botocore's signing clock, set by the test (the emulator then ignores clock skew)."""
    times: list[datetime.datetime] = []
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: times[0] if times else original()  # type: ignore[attr-defined]
    emulator.credentials.check_clock = False
    yield times
    botocore.auth.get_current_datetime = original  # type: ignore[attr-defined]
    emulator.credentials.check_clock = True


def test_prepared_polls_sign_with_the_new_date_after_midnight(clock: list[datetime.datetime], emulator) -> None:
    """The signing key is derived from the date: a template made before midnight must not
    carry yesterday's scope into today's polls."""
    case = CASES[0]
    _, params = plant(case, emulator, [{"state": case.pending}])
    clock.append(datetime.datetime(2026, 12, 31, 23, 59, 59))

    async def go() -> None:
        async with client_for(case.spec.service) as client:
            call = StatusCall(case.spec.operation, params, _keep_every_error)
            await call(client)
            await call(client)  # prepared, same day
            clock[0] = datetime.datetime(2027, 1, 1, 0, 0, 1)
            await call(client)  # prepared, next day: verified by the emulator with the new scope
            assert call.prepared_polls == 2

    run(go())


@pytest.mark.usefixtures("assume_role_connection")
def test_prepared_polls_sign_with_temporary_credentials_and_their_session_token(emulator) -> None:
    """The emulator checks the session token and the signature of every AssumeRole key."""
    case = CASES[0]
    _, params = plant(case, emulator, [{"state": case.pending}])
    start = len(emulator.request_log)

    assert polled(case, params, times=4).prepared_polls == 3
    keys = [key for _, op, key in emulator.request_log[start:] if op == case.spec.operation]
    assert len(keys) == 4 and all(key and key.startswith("ASIAEMULATOR") for key in keys)


def test_a_session_token_with_whitespace_runs_keeps_prepared_polls_on(
    emulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """SigV4 collapses whitespace runs in the token's canonical form (botocore does): a prepared
    request signed otherwise would fail the self-check and leave the wait on plain calls."""
    token = "FwoGZXIv  YXdz\t\tE//tok  en=="
    edit_aws_default(monkeypatch, aws_session_token=token)
    emulator.credentials.register("emulator-access-key", SECRET_KEY, token)  # the token is checked too
    try:
        case = CASES[0]
        _, params = plant(case, emulator, [{"state": case.pending}])
        caplog.set_level(logging.WARNING, logger=prepared.__name__)
        assert polled(case, params, times=4).prepared_polls == 3
    finally:
        emulator.credentials.register("emulator-access-key", SECRET_KEY)
    assert not [r for r in caplog.records if "differs from the plain client's" in r.getMessage()]


@pytest.mark.usefixtures("assume_role_connection")
def test_credentials_refreshed_on_every_call_keep_the_wait_on_plain_calls(emulator) -> None:
    """Keys announced to expire within botocore's refresh window (15 min) are refreshed on
    every signature, so the self-check cannot compare two requests signed with one key: it is
    inconclusive, and polls stay plain (and correct) rather than unchecked."""
    emulator.sts_announced_duration = 11 * 60
    case = CASES[0]
    _, params = plant(case, emulator, [{"state": case.pending}])

    assert polled(case, params, times=3).plain_polls == 3


# --------------------------------------------------------------------------- safety valves
def test_a_hook_that_changes_every_request_turns_prepared_calls_off_with_one_line(emulator, caplog) -> None:
    """botocore calls the hook on every call, so the client steps aside before any prepared poll
    (tests/test_prepared_config.py::test_event_hooks has one test per event)."""
    case = CASES[0]
    _, params = plant(case, emulator, [{"state": case.pending}])
    caplog.set_level(logging.INFO, logger=prepared.__name__)

    async def go() -> None:
        async with client_for(case.spec.service) as client:
            counter = iter(range(1_000_000))
            service_id = client.meta.service_model.service_id.hyphenize()
            client.meta.events.register(
                f"before-sign.{service_id}",
                lambda request, **_: request.headers.__setitem__("x-call-number", str(next(counter))),
            )
            first, second = (StatusCall(case.spec.operation, params, _keep_every_error) for _ in range(2))
            for call in (first, second):
                for _ in range(3):
                    await call(client)
            assert first.prepared_polls == second.prepared_polls == 0
            assert first.plain_polls == second.plain_polls == 3

    run(go())
    lines = [r.getMessage() for r in caplog.records if r.name == prepared.__name__]
    assert len(lines) == 1 and "event hook on before-sign" in lines[0]


def test_a_new_client_is_polled_plainly_first(emulator) -> None:
    case = CASES[0]
    _, params = plant(case, emulator, [{"state": case.pending}])

    async def go() -> None:
        call = StatusCall(case.spec.operation, params, _keep_every_error)
        for _ in range(2):  # the client replaced (expired credentials, max age)
            async with client_for(case.spec.service) as client:
                await call(client)
                await call(client)
        assert (call.plain_polls, call.prepared_polls) == (2, 2)

    run(go())


def test_an_unexpected_error_sends_the_next_poll_through_the_plain_call(emulator) -> None:
    case = CASES[0]
    query_id, params = plant(case, emulator, [{"state": case.pending}])
    throttled = {"ThrottlingException"}

    def keep(exc: BaseException) -> bool:
        return isinstance(exc, ClientError) and exc.response["Error"]["Code"] in throttled

    async def go() -> None:
        async with client_for(case.spec.service, botocore_config={"retries": {"total_max_attempts": 1}}) as client:
            call = StatusCall(case.spec.operation, params, keep)
            await call(client)
            for code, plain_after in (("ThrottlingException", 1), ("AccessDeniedException", 2)):
                emulator.query(query_id).faults.append(prepared_fault(code))
                with pytest.raises(ClientError, match=code):
                    await call(client)
                await call(client)
                assert call.plain_polls == plain_after

    run(go())


@pytest.mark.parametrize(("option", "extra", "enabled"), [
    (None, {}, True),
    ("False", {}, False),
    (None, {"prepared_status_calls": False}, False),
    (None, {"prepared_status_calls": "false"}, False),
    ("True", {"prepared_status_calls": True}, True),
])
def test_prepared_calls_can_be_turned_off_globally_or_per_connection(
    option: str | None, extra: dict[str, Any], enabled: bool, monkeypatch: pytest.MonkeyPatch, emulator
) -> None:
    if option is None:
        monkeypatch.delenv("AIRFLOW__QUERYSTATUS__PREPARED_STATUS_CALLS", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__QUERYSTATUS__PREPARED_STATUS_CALLS", option)
    assert prepared_calls_enabled(extra) is enabled
    case = CASES[0]
    _, params = plant(case, emulator, [{"state": case.pending}])
    edit_aws_default(monkeypatch, **extra)
    assert polled(case, params, times=3).prepared_polls == (2 if enabled else 0)


def test_request_differences_name_parts_without_values() -> None:
    from botocore.awsrequest import AWSRequest

    def request(**headers: str) -> Any:
        return AWSRequest(method="POST", url="https://x/", headers=headers, data=b"{}").prepare()

    assert request_differences(request(a="1"), request(a="1")) == []
    assert request_differences(request(Authorization="secret-1"), request(Authorization="secret-2")) == [
        "header authorization"
    ]
    assert request_differences(request(**{"amz-sdk-invocation-id": "1"}),
                               request(**{"amz-sdk-invocation-id": "2"})) == []
