"""Golden tests: the fixed-request signer gives byte-identical headers to botocore's SigV4 signer.

botocore's ``SigV4Auth.add_auth`` is the reference: for every operation in the registry (its
real request, as the botocore client serialises it), with and without a session token, and
across a date change on one signer (the cached signing key must follow the day), the
``X-Amz-Date``, ``X-Amz-Security-Token`` and ``Authorization`` headers must be equal. Session
tokens with whitespace (spaces, tabs, runs, leading and trailing) are signed as botocore signs
them: its canonical headers collapse the runs, the header keeps the token as it is.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import botocore.auth
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.credentials import ReadOnlyCredentials

from airflow_querystatus.signing import FixedRequestSigner
from tests.cases import CASE_IDS, CASES, Case

pytestmark = pytest.mark.line_independent

TOKEN = ReadOnlyCredentials("ASIAEXAMPLEKEY", "secret/with+chars", "FwoGZXIvYXdzE//token==")
NO_TOKEN = ReadOnlyCredentials("AKIAEXAMPLEKEY", "another-secret", None)
#: Session tokens whose whitespace SigV4's ``Trimall`` rewrites in the canonical headers.
ODD_TOKENS = {
    "one-space": "FwoG token==",
    "space-run": "FwoG    token==",
    "tab": "FwoG\ttoken==",
    "tab-run": "FwoG\t\t\ttoken==",
    "mixed-run": "Fw \t oG\t \ttok en==",
    "leading": "  \tFwoGtoken==",
    "trailing": "FwoGtoken==\t  ",
    "both-ends-and-inside": " \t Fwo  G\ttoken== \t",
    "newline-and-other-whitespace": "Fwo\nG\r\x0b\x0ctok\x1fen\u00a0==\u2003x",
    "only-whitespace": " \t  ",
}
#: The last second of a year and the first of the next: the scope's day, and the key, change.
MOMENTS = [datetime.datetime(2026, 12, 31, 23, 59, 59), datetime.datetime(2027, 1, 1, 0, 0, 1)]
#: Headers the signer adds; everything else of a request goes into the signer.
ADDED = {"x-amz-date", "x-amz-security-token", "authorization"}


class _Stop(Exception):
    pass


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime.datetime]]:
    """botocore's signing clock, set by the test (both signers read it)."""
    now = [MOMENTS[0]]
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now[0])
    yield now


def serialised_request(case: Case) -> AWSPreparedRequest:
    """The request botocore's own client builds for ``case`` (stopped before it is sent)."""
    session = botocore.session.get_session()
    client = session.create_client(case.spec.service, region_name="eu-west-1", endpoint_url="https://example.test:8443",
                                   aws_access_key_id="AKIAEXAMPLEKEY", aws_secret_access_key="another-secret")
    captured: list[AWSPreparedRequest] = []

    def stop(request: AWSPreparedRequest, **_: Any) -> None:
        captured.append(request)
        raise _Stop

    client.meta.events.register("before-send", stop)
    identifiers = {**case.scope, case.id_arg: "query/1 with spaces~"}
    params = case.spec.api_params(case.spec.validate(identifiers, owner="test"))
    with pytest.raises(_Stop):
        getattr(client, case.spec.operation)(**params)
    return captured[0]


#: One serialised request per operation for the many token variants (building a client is slow).
_serialised: dict[str, AWSPreparedRequest] = {}


def split(request: Any) -> tuple[dict[str, str], str, str, str]:
    """The signed headers of a signed request (without the signer's own), region and service."""
    headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    authorization = headers["authorization"]
    scope = authorization.split("Credential=")[1].split(",")[0].split("/")
    names = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    signed = {name: value for name, value in headers.items() if name in names and name not in ADDED}
    return signed, scope[2], scope[3], ";".join(names)


def botocore_signs(method: str, url: str, headers: dict[str, str], body: bytes, region: str, service: str,
                   credentials: ReadOnlyCredentials) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    SigV4Auth(credentials, service, region).add_auth(request)
    return {k.lower(): v for k, v in request.headers.items() if k.lower() in ADDED}


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_every_operation_is_signed_exactly_as_botocore_signs_it(case: Case, clock: list[datetime.datetime]) -> None:
    request = serialised_request(case)
    headers, region, service, names = split(request)
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    signer = FixedRequestSigner(request.method, request.url, headers, body, region, service)
    assert signer.signed_header_names(with_token=False) == names
    for moment in MOMENTS:  # one signer across midnight: the cached key must follow the day
        clock[0] = moment
        for credentials in (TOKEN, NO_TOKEN, TOKEN):
            expected = botocore_signs(request.method, request.url, headers, body, region, service, credentials)
            assert signer.sign(credentials) == expected, (moment, credentials.access_key)


@pytest.mark.parametrize(
    ("method", "url", "headers", "body"),
    [
        pytest.param("GET", "https://h.example.com/monitors/a%20b/queries/q~1%2F2", {"x-amz-user-agent": "ua"}, b"",
                     id="encoded-path-get"),
        pytest.param("GET", "https://h.example.com:8443/x?b=2&a=1&a=0&empty=", {}, b"", id="query-and-port"),
        pytest.param("POST", "https://h.example.com/", {"content-type": "application/x-amz-json-1.1",
                                                        "x-amz-target": "  Spaces   inside  value "},
                     b'{"Id": "\xc3\xa9"}', id="folded-whitespace-and-utf8-body"),
        pytest.param("POST", "http://127.0.0.1:80/a/./b/../c", {"host": "custom.example"}, b"{}",
                     id="explicit-host-plain-http"),
    ],
)
def test_unusual_requests_are_signed_exactly_as_botocore_signs_them(
    method: str, url: str, headers: dict[str, str], body: bytes, clock: list[datetime.datetime]
) -> None:
    signer = FixedRequestSigner(method, url, headers, body, "us-east-1", "execute-api")
    for credentials in (TOKEN, NO_TOKEN):
        expected = botocore_signs(method, url, headers, body, "us-east-1", "execute-api", credentials)
        assert signer.sign(credentials) == expected


@pytest.mark.parametrize("token", ODD_TOKENS.values(), ids=ODD_TOKENS.keys())
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_session_tokens_with_whitespace_are_signed_exactly_as_botocore_signs_them(
    case: Case, token: str, clock: list[datetime.datetime]
) -> None:
    request = _serialised[case.name] if case.name in _serialised else _serialised.setdefault(
        case.name, serialised_request(case))
    headers, region, service, _ = split(request)
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    signer = FixedRequestSigner(request.method, request.url, headers, body, region, service)
    credentials = ReadOnlyCredentials("ASIAEXAMPLEKEY", "secret/with+chars", token)
    for moment in MOMENTS:
        clock[0] = moment
        for signed_with in (credentials, TOKEN, credentials, NO_TOKEN):
            expected = botocore_signs(request.method, request.url, headers, body, region, service, signed_with)
            assert signer.sign(signed_with) == expected, (moment, signed_with.token)
    # The header carries the token as it is; only the canonical form is trimmed.
    assert signer.sign(credentials)["x-amz-security-token"] == token


def test_an_explicit_timestamp_is_used_as_given(clock: list[datetime.datetime]) -> None:
    signer = FixedRequestSigner("POST", "https://h.example.com/", {"x-amz-target": "T"}, b"{}", "eu-west-1", "athena")
    clock[0] = datetime.datetime(2026, 6, 1, 12, 0, 0)
    expected = botocore_signs("POST", "https://h.example.com/", {"x-amz-target": "T"}, b"{}", "eu-west-1", "athena",
                              NO_TOKEN)
    clock[0] = datetime.datetime(2030, 1, 1)
    assert signer.sign(NO_TOKEN, "20260601T120000Z") == expected
