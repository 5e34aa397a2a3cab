"""Every botocore setting and environment variable against the prepared status-call path.

For each setting, a wait's polls (the first plain, the rest prepared) are compared on the wire
with what botocore sends for the same setting: the requests a recording proxy relayed (URL,
every header, the body, the connection they came on), the TLS endpoint they reached, the
credentials and clock they were signed with. Where a prepared poll cannot do what botocore does,
the test proves that the client steps aside: every poll plain, one log line naming the setting.
README.md's settings table ("Prepared status calls") names one test of this module per row
(tests/test_readme_tables.py checks that each exists).
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiobotocore.client
import botocore.auth
import botocore.exceptions
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError, SSLError

from airflow_querystatus import prepared
from airflow_querystatus.clients import ClientKey, create_client_through_hook
from airflow_querystatus.emulator import EmulatorServer
from airflow_querystatus.emulator.model import Fault
from airflow_querystatus.prepared import CALL_EVENTS, StatusCall
from airflow_querystatus.status import SPECS
from tests.cases import CASES, Case
from tests.conftest import SECRET_KEY, edit_aws_default
from tests.wire import Recorded, RecordingProxy, TestAuthority, TLSFront

pytestmark = [pytest.mark.usefixtures("prepared_calls_on"), pytest.mark.line_independent]

#: Athena: a JSON 1.1 service with FIPS and dual-stack endpoints in us-east-1.
CASE: Case = next(case for case in CASES if case.name == "athena_calculation_execution")
API_OPERATION = "".join(part.title() for part in CASE.spec.operation.split("_"))
ONE_ATTEMPT = {"retries": {"total_max_attempts": 1}}
#: Headers made anew for every request (the signature is verified by the emulator instead).
PER_REQUEST = {"x-amz-date", "amz-sdk-invocation-id", "authorization", "x-amz-security-token"}
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ATHENA", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
                      "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_CA_BUNDLE", "AWS_SDK_UA_APP_ID")


def _never_drop(exc: BaseException) -> bool:
    return True


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy, endpoint or CA setting from the machine: each test sets its own."""
    for name in (*PROXY_VARIABLES, *ENDPOINT_VARIABLES):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> TestAuthority:
    return TestAuthority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def tls_emulator(authority: TestAuthority) -> Iterator[EmulatorServer]:
    """The emulator over HTTPS with the test CA's certificate (stopped with the module)."""
    with EmulatorServer(ssl_context=authority.server_context()) as server:
        server.emulator.credentials.register("emulator-access-key", SECRET_KEY)
        yield server


@pytest.fixture(scope="module")
def mtls_emulator(authority: TestAuthority) -> Iterator[EmulatorServer]:
    """The emulator over HTTPS, refusing clients without a certificate of the test CA."""
    with EmulatorServer(ssl_context=authority.server_context(require_client_cert=True)) as server:
        server.emulator.credentials.register("emulator-access-key", SECRET_KEY)
        yield server


@pytest.fixture
def proxy(emulator_server: EmulatorServer, authority: TestAuthority) -> Iterator[RecordingProxy]:
    """A recording proxy in front of the (HTTP) test emulator: Any, ``CONNECT`` tunnels included."""
    host, port = emulator_server.url.removeprefix("http://").split(":")
    with RecordingProxy((host, int(port)), tunnel_tls=authority.server_context()) as running:
        yield running


@asynccontextmanager
async def client_for(**key_args: Any) -> AsyncIterator[Any]:
    client, close = await create_client_through_hook(
        ClientKey.build(CASE.spec.service, aws_conn_id="aws_default", region_name=None, **key_args))
    try:
        yield client
    finally:
        await close()


def planted(emulator: Any) -> dict[str, str]:
    query = CASE.plant(emulator, [{"state": CASE.pending}])
    return CASE.spec.api_params(CASE.spec.validate({**CASE.scope, CASE.id_arg: query.query_id}, owner="test"))


def poll(emulator: Any, times: int = 3, **key_args: Any) -> StatusCall:
    """One wait's ``times`` polls on a client built as triggers build theirs."""
    params = planted(emulator)
    call = StatusCall(CASE.spec.operation, params, _never_drop)

    async def go() -> None:
        async with client_for(**key_args) as client:
            for _ in range(times):
                await call(client)

    asyncio.run(go())
    return call


def assert_same_requests(requests: list[Recorded], count: int = 3) -> None:
    """The plain poll's request (the first) and the prepared ones are the same request: method,
    URL, body and every header but the per-request ones; signed alike (the emulator verified
    each signature); on the same client connection (the client's own HTTP session and pool)."""
    assert len(requests) == count, [r.url for r in requests]
    plain, *prepared_ones = requests
    for request in prepared_ones:
        assert (request.method, request.url, request.body, request.tunnel) == (
            plain.method, plain.url, plain.body, plain.tunnel)
        assert {k: v for k, v in request.headers.items() if k not in PER_REQUEST} == {
            k: v for k, v in plain.headers.items() if k not in PER_REQUEST}
        assert _signed_headers(request) == _signed_headers(plain)
        assert request.connection == plain.connection


def _signed_headers(request: Recorded) -> str:
    return request.headers["authorization"].partition("SignedHeaders=")[2].partition(",")[0]


def step_aside_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == prepared.__name__
            and r.getMessage().startswith("Prepared status calls are off on this client because of")]


# --------------------------------------------------------------------------- proxies
def test_config_proxies(proxy: RecordingProxy, emulator: Any) -> None:
    call = poll(emulator, botocore_config={"proxies": {"http": proxy.url}})
    assert (call.plain_polls, call.prepared_polls) == (1, 2)
    assert_same_requests(proxy.requests)


def test_http_proxy_environment(proxy: RecordingProxy, emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    assert poll(emulator).prepared_polls == 2
    assert_same_requests(proxy.requests)


def test_https_proxy_environment(proxy: RecordingProxy, authority: TestAuthority, emulator: Any,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS through the proxy's ``CONNECT`` tunnel, to botocore's own endpoint for Athena."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    edit_aws_default(monkeypatch, endpoint_url=None)
    assert poll(emulator, verify=authority.ca).prepared_polls == 2
    assert_same_requests(proxy.requests)
    assert proxy.requests[0].url == "https://athena.us-east-1.amazonaws.com/"


def test_no_proxy_environment(proxy: RecordingProxy, emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    start = len(emulator.request_log)
    assert poll(emulator).prepared_polls == 2
    assert proxy.requests == [] and [op for _, op, _ in emulator.request_log[start:]] == [CASE.spec.operation] * 3


def test_config_proxies_config(authority: TestAuthority, emulator_server: EmulatorServer, emulator: Any) -> None:
    """``proxies_config``: an HTTPS proxy trusted through ``proxy_ca_bundle`` alone."""
    host, port = emulator_server.url.removeprefix("http://").split(":")
    with RecordingProxy((host, int(port))) as plain_proxy, \
            TLSFront(plain_proxy.port, authority.server_context()) as tls_proxy:
        call = poll(emulator, botocore_config={"proxies": {"http": tls_proxy.url},
                                               "proxies_config": {"proxy_ca_bundle": authority.ca}})
    assert call.prepared_polls == 2
    assert_same_requests(plain_proxy.requests)


# --------------------------------------------------------------------------- TLS
def _on(server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    edit_aws_default(monkeypatch, endpoint_url=server.url)
    return server.emulator


def test_verify_ca_bundle_path(tls_emulator: EmulatorServer, authority: TestAuthority,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A prepared poll that did not verify with the client's CA bundle (certifi's instead) would
    fail against the test CA's certificate; one that did not verify at all is the next test."""
    emulator = _on(tls_emulator, monkeypatch)
    assert poll(emulator, verify=authority.ca).prepared_polls == 2
    with pytest.raises(SSLError):  # botocore's default bundle does not know the test CA
        poll(emulator, times=1, botocore_config=ONE_ATTEMPT)


def test_aws_ca_bundle_environment(tls_emulator: EmulatorServer, authority: TestAuthority,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = _on(tls_emulator, monkeypatch)
    monkeypatch.setenv("AWS_CA_BUNDLE", authority.ca)
    assert poll(emulator).prepared_polls == 2


def test_verify_false(tls_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert poll(_on(tls_emulator, monkeypatch), verify=False).prepared_polls == 2


def test_config_client_cert(mtls_emulator: EmulatorServer, authority: TestAuthority,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A prepared poll sent without the client certificate would be refused by the endpoint."""
    emulator = _on(mtls_emulator, monkeypatch)
    call = poll(emulator, verify=authority.ca, botocore_config={"client_cert": list(authority.client)})
    assert call.prepared_polls == 2
    # The endpoint does require one (TLS 1.3 refuses it after the handshake: a reset or a close).
    with pytest.raises((botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
        poll(emulator, times=1, verify=authority.ca, botocore_config=ONE_ATTEMPT)


# --------------------------------------------------------------------------- endpoints
@pytest.mark.parametrize(("setting", "host"), [
    ({"botocore_config": {"use_fips_endpoint": True}}, "athena-fips.us-east-1.amazonaws.com"),
    ({"env": "AWS_USE_FIPS_ENDPOINT"}, "athena-fips.us-east-1.amazonaws.com"),
    ({"botocore_config": {"use_dualstack_endpoint": True}}, "athena.us-east-1.api.aws"),
    ({"env": "AWS_USE_DUALSTACK_ENDPOINT"}, "athena.us-east-1.api.aws"),
], ids=["use_fips_endpoint", "AWS_USE_FIPS_ENDPOINT", "use_dualstack_endpoint", "AWS_USE_DUALSTACK_ENDPOINT"])
def test_fips_and_dual_stack_endpoints(setting: dict[str, Any], host: str, proxy: RecordingProxy,
                                       authority: TestAuthority, emulator: Any,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    edit_aws_default(monkeypatch, endpoint_url=None)
    if "env" in setting:
        monkeypatch.setenv(setting["env"], "true")
    assert poll(emulator, verify=authority.ca, botocore_config=setting.get("botocore_config")).prepared_polls == 2
    assert_same_requests(proxy.requests)
    assert proxy.requests[0].url == f"https://{host}/"


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_ATHENA", "AWS_ENDPOINT_URL"])
def test_configured_endpoint_url_environment(variable: str, proxy: RecordingProxy, emulator_server: EmulatorServer,
                                             emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    edit_aws_default(monkeypatch, endpoint_url=None)
    endpoint = emulator_server.url.replace("127.0.0.1", "localhost")  # the proxy relays it to the emulator
    monkeypatch.setenv(variable, endpoint)
    assert poll(emulator, botocore_config={"proxies": {"http": proxy.url}}).prepared_polls == 2
    assert_same_requests(proxy.requests)
    assert proxy.requests[0].url == f"{endpoint}/"


@pytest.mark.parametrize("how", ["config", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"])
def test_ignore_configured_endpoint_urls(how: str, proxy: RecordingProxy, authority: TestAuthority,
                                         emulator_server: EmulatorServer, emulator: Any,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    edit_aws_default(monkeypatch, endpoint_url=None)
    monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", emulator_server.url)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    config = {"ignore_configured_endpoint_urls": True} if how == "config" else None
    if config is None:
        monkeypatch.setenv(how, "true")
    assert poll(emulator, verify=authority.ca, botocore_config=config).prepared_polls == 2
    assert_same_requests(proxy.requests)
    assert proxy.requests[0].url == "https://athena.us-east-1.amazonaws.com/"


# --------------------------------------------------------------------------- credentials, clock
@pytest.mark.usefixtures("assume_role_connection")
def test_refreshable_assume_role_credentials(emulator: Any) -> None:
    """Keys announced to expire in 15 min + 1 s: botocore refreshes them 1 s after each
    AssumeRole. The wait's prepared polls keep going, signed with each new key in turn."""
    emulator.sts_announced_duration = 15 * 60 + 1
    params = planted(emulator)
    call = StatusCall(CASE.spec.operation, params, _never_drop)
    start = len(emulator.request_log)

    def keys() -> list[str | None]:
        return [key for _, op, key in emulator.request_log[start:] if op == CASE.spec.operation]

    async def go() -> None:
        async with client_for() as client:
            await call(client)
            await call(client)
            first = keys()[-1]
            for _ in range(100):  # until botocore refreshed the key (about 1 s): at most 10 s
                await asyncio.sleep(0.1)
                await call(client)
                if keys()[-1] != first:
                    break
            await call(client)

    asyncio.run(go())
    assert call.plain_polls == 1
    used = keys()
    assert len(set(used[1:])) >= 2, "prepared polls never signed with a refreshed key"
    assert all(key and key.startswith("ASIAEMULATOR") for key in used)


def test_clock_skew_is_not_corrected(proxy: RecordingProxy, emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore signs with its clock and corrects no skew (no retry or offset after
    ``Signature expired``): prepared polls sign with the same clock, refused alike."""
    skew = datetime.timedelta(minutes=20)
    skewed = [False]
    original = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: original() + skew if skewed[0] else original())
    params = planted(emulator)
    call = StatusCall(CASE.spec.operation, params, _never_drop)
    config = {"proxies": {"http": proxy.url}, "retries": {"total_max_attempts": 1}}

    async def go() -> list[ClientError]:
        async with client_for(botocore_config=config) as client:
            await call(client)
            await call(client)
            skewed[0] = True
            refusals = []
            for attempt in (lambda: call(client), lambda: call(client),
                            lambda: getattr(client, CASE.spec.operation)(**params)):
                with pytest.raises(ClientError) as raised:
                    await attempt()
                refusals.append(raised.value)
            return refusals

    refusals = asyncio.run(go())
    assert call.prepared_polls == 3
    assert {(r.response["Error"]["Code"], r.response["Error"]["Message"].split(":")[0]) for r in refusals} == {
        ("InvalidSignatureException", "Signature expired")}
    *_, prepared_1, prepared_2, plain = proxy.requests
    assert prepared_1.headers["x-amz-date"] >= (datetime.datetime.utcnow() + skew / 2).strftime("%Y%m%dT%H%M%SZ")
    assert {r.headers["x-amz-date"][:11] for r in (prepared_1, prepared_2, plain)} == {
        prepared_1.headers["x-amz-date"][:11]}


# --------------------------------------------------------------------------- HTTP session
def test_read_timeout(emulator: Any) -> None:
    """An answer slower than ``read_timeout`` times out the prepared poll as it does the call."""
    params = planted(emulator)
    call = StatusCall(CASE.spec.operation, params, _never_drop)
    config = {"read_timeout": 0.5, "retries": {"total_max_attempts": 1}}

    async def go() -> None:
        async with client_for(botocore_config=config) as client:
            await call(client)
            for attempt in (lambda: call(client), lambda: getattr(client, CASE.spec.operation)(**params)):
                emulator.add_global_faults([Fault(delay=5.0, count=1, operations=(CASE.spec.operation,))])
                with pytest.raises(ReadTimeoutError):
                    await attempt()

    asyncio.run(go())
    assert call.prepared_polls == 1


def test_one_connection_pool_for_plain_and_prepared_polls(proxy: RecordingProxy, emulator: Any) -> None:
    """Every poll of a wait, plain or prepared, comes on the client's one kept-alive connection:
    the client's own HTTP session, with its ``connect_timeout``, ``read_timeout``,
    ``tcp_keepalive`` (which aiobotocore's session does not apply: its ``socket_options`` are a
    TODO there), ``max_pool_connections`` and TLS settings."""
    call = poll(emulator, times=5, botocore_config={"proxies": {"http": proxy.url}, "tcp_keepalive": True,
                                                     "connect_timeout": 5})
    assert call.prepared_polls == 4
    assert proxy.connections == 1
    assert_same_requests(proxy.requests, count=5)


# --------------------------------------------------------------------------- request contents
@pytest.mark.parametrize("config", [
    {"user_agent_extra": "my-tracer/1.0", "user_agent_appid": "my-app"},
    {"env": "my-env-app"},
], ids=["user_agent_extra_and_appid", "AWS_SDK_UA_APP_ID"])
def test_user_agent(config: dict[str, Any], proxy: RecordingProxy, emulator: Any,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    if "env" in config:
        monkeypatch.setenv("AWS_SDK_UA_APP_ID", config.pop("env"))
    assert poll(emulator, botocore_config={**config, "proxies": {"http": proxy.url}}).prepared_polls == 2
    assert_same_requests(proxy.requests)
    agent = proxy.requests[0].headers["user-agent"]
    assert "app/my-app" in agent and "my-tracer/1.0" in agent if "user_agent_extra" in config else \
        "app/my-env-app" in agent


@pytest.mark.parametrize("config", [
    {"signature_version": "v4"},
    {"request_checksum_calculation": "when_supported", "response_checksum_validation": "when_supported"},
    {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"},
    {"sigv4a_signing_region_set": "*"},
    {"parameter_validation": False},
    {"inject_host_prefix": False},
    {"s3": {"addressing_style": "path", "us_east_1_regional_endpoint": "regional"}},
], ids=["signature_version_v4", "checksums_when_supported", "checksums_when_required", "sigv4a_signing_region_set",
        "parameter_validation", "inject_host_prefix", "s3"])
def test_settings_the_status_request_is_the_same_with(config: dict[str, Any], proxy: RecordingProxy,
                                                     emulator: Any) -> None:
    """Settings that do not change a status request (no status operation has checksums, a host
    prefix or SigV4a auth, none is on S3): prepared polls send what botocore sends."""
    assert poll(emulator, botocore_config={**config, "proxies": {"http": proxy.url}}).prepared_polls == 2
    assert_same_requests(proxy.requests)


def test_no_status_operation_has_what_those_settings_change() -> None:
    """Why the settings above change nothing: checked on botocore's model of every operation."""
    import botocore.session

    session = botocore.session.get_session()
    for spec in SPECS.values():
        model = session.get_service_model(spec.service)
        operation = model.operation_model(next(name for name in model.operation_names
                                               if botocore.xform_name(name) == spec.operation))
        assert not operation.http_checksum and not operation.request_compression, spec.key
        assert "hostPrefix" not in (operation.endpoint or {}), spec.key
        assert model.metadata.get("signatureVersion") == "v4", spec.key
        assert spec.service != "s3"


def test_signature_version_other_than_sigv4_steps_aside(proxy: RecordingProxy, emulator: Any,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=prepared.__name__)
    call = poll(emulator, botocore_config={"signature_version": "v3", "proxies": {"http": proxy.url}})
    assert (call.plain_polls, call.prepared_polls) == (3, 0)
    assert len(proxy.requests) == 3
    assert all("x-amzn-authorization" in r.headers and "authorization" not in r.headers for r in proxy.requests)
    (line,) = step_aside_lines(caplog)
    assert "signature_version" in line


def test_retries_prepared_polls_make_one_attempt(emulator: Any) -> None:
    """botocore retries a 5xx within the call (``retries``); a prepared poll makes one attempt
    and the polling engine retries (README). Shown: the same fault, both paths."""
    params = planted(emulator)
    call = StatusCall(CASE.spec.operation, params, _never_drop)
    config = {"retries": {"mode": "standard", "max_attempts": 3}}

    async def go() -> tuple[Any, ClientError]:
        async with client_for(botocore_config=config) as client:
            await call(client)
            emulator.add_global_faults([server_error()])
            answer = await getattr(client, CASE.spec.operation)(**params)  # retried once by botocore
            emulator.add_global_faults([server_error()])
            with pytest.raises(ClientError) as raised:
                await call(client)
            return answer, raised.value

    answer, refusal = asyncio.run(go())
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert refusal.response["Error"]["Code"] == "InternalServerException" and call.prepared_polls == 1


def server_error() -> Fault:
    return Fault(error="InternalServerException", count=1, operations=(CASE.spec.operation,))


# --------------------------------------------------------------------------- event hooks
def _counting_handler(seen: list[str], **_: Any) -> None:
    seen.append("called")


@pytest.mark.parametrize("event", CALL_EVENTS)
def test_event_hooks(event: str, emulator: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A handler on any event of the call sees every poll: the client steps aside, in one line
    naming the event; also when the handler comes after prepared polls began."""
    caplog.set_level(logging.INFO, logger=prepared.__name__)
    params = planted(emulator)
    early, late = (StatusCall(CASE.spec.operation, params, _never_drop) for _ in range(2))
    seen: list[str] = []

    async def go() -> None:
        async with client_for() as client:
            await late(client)
            await late(client)  # prepared: nothing registered yet
            service_id = client.meta.service_model.service_id.hyphenize()
            client.meta.events.register(f"{event}.{service_id}", functools.partial(_counting_handler, seen))
            for _ in range(2):
                await late(client)
            for _ in range(3):
                await early(client)

    asyncio.run(go())
    assert (late.plain_polls, late.prepared_polls, early.plain_polls, early.prepared_polls) == (3, 1, 3, 0)
    # Called on each poll since it was registered (after-call-error: on none, none failed).
    assert len(seen) >= (0 if event == "after-call-error" else 5)
    (line,) = step_aside_lines(caplog)
    assert f"event hook on {event}" in line and "_counting_handler" in line


def test_wrapped_make_api_call(emulator: Any, monkeypatch: pytest.MonkeyPatch,
                               caplog: pytest.LogCaptureFixture) -> None:
    """Tracing libraries (OpenTelemetry, X-Ray, ddtrace) wrap ``_make_api_call`` rather than
    register a hook: every poll must still go through it."""
    caplog.set_level(logging.INFO, logger=prepared.__name__)
    original = aiobotocore.client.AioBaseClient._make_api_call
    traced: list[str] = []

    @functools.wraps(original)
    async def tracing(self: Any, operation_name: str, api_params: Any) -> Any:
        traced.append(operation_name)
        return await original(self, operation_name, api_params)

    monkeypatch.setattr(aiobotocore.client.AioBaseClient, "_make_api_call", tracing)
    call = poll(emulator)
    assert (call.plain_polls, call.prepared_polls) == (3, 0) and traced == [API_OPERATION] * 3
    (line,) = step_aside_lines(caplog)
    assert "_make_api_call" in line and "tracing" in line

