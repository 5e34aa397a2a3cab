"""Sort every exception a status call can raise into what the waiting code should do.

One classification serves all operations, the sync (poke) and async (trigger) paths alike.
By the time an error reaches us botocore has already retried the cheap cases, so what is
left is either worth waiting out (throttling, 5xx, network) or a caller mistake.
"""

from __future__ import annotations

import asyncio
import enum
import ssl
from dataclasses import dataclass

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    SSLError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

from airflow_querystatus.bounds import MAX_ANSWER_OPTION, AnswerTooLarge


class ErrorKind(enum.Enum):
    TRANSIENT = "transient"  # throttling, 5xx, timeouts, resets: wait and retry
    NOT_FOUND = "not_found"  # id unknown: transient for a short grace period, then caller
    VANISHED = "vanished"  # the id is no longer listed (FinishedQueriesVanish: finished or never existed)
    REJECTED_CREDENTIALS = "rejected_credentials"  # rotated, deactivated or expired: rebuild the client once
    CALLER = "caller"  # fix the ids, permissions or connection; retrying will not help


class CallerMistake(Exception):
    """An error of this package that already says what the caller must fix (a missing
    connection): the engine ends the wait with its message as it is. Kept free of Airflow so
    that the decision core can be used and tested without it."""


_BOTOCORE_THROTTLING = ThrottledRetryableChecker()


def is_throttling_code(code: str) -> bool:
    """Whether ``code`` means "slow down", by botocore's own list (its standard retry mode's):
    asked through the checker's public ``is_retryable`` rather than copied, so a botocore that
    learns a new throttling code teaches us too."""
    return bool(code) and bool(
        _BOTOCORE_THROTTLING.is_retryable(RetryContext(attempt_number=1, parsed_response={"Error": {"Code": code}}))
    )


TRANSIENT_CODES = frozenset(
    {
        "InternalServerException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ClientTimeoutException",
        "PriorRequestNotComplete",
        "ConcurrentModificationException",
    }
)
EXPIRED_CREDENTIAL_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
)
#: What AWS answers to a key that was rotated away, deactivated or mistyped. A connection whose
#: key was just rotated holds the new key: a client rebuilt from it succeeds.
REFUSED_CREDENTIAL_CODES = frozenset(
    {"UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException", "SignatureDoesNotMatch",
     "AuthFailure"}
)


@dataclass(frozen=True)
class ClassifiedError:
    kind: ErrorKind
    code: str
    message: str
    http_status: int | None = None

    @property
    def throttled(self) -> bool:
        return is_throttling_code(self.code) or self.http_status == 429

    @property
    def detail(self) -> str:
        """``Code: message`` without a closing full stop (AWS's texts often end in one), so that
        a message can go on with a sentence of its own without doubling it."""
        return f"{self.code}: {without_full_stop(self.message)}"

    @property
    def request_not_processed(self) -> bool:
        """Whether AWS certainly did not act on the request: it was throttled (refused before any
        work), or it never reached AWS (no connection could be made). A 5xx or a read timeout
        leaves that open: the request may have been carried out."""
        return self.throttled or self.code in {"EndpointConnectionError", "ConnectTimeoutError"}


def without_full_stop(text: str) -> str:
    """``text`` without trailing full stops and spaces: messages add their own."""
    return text.rstrip(" .")


def classify(
    exc: BaseException,
    *,
    not_found_codes: frozenset[str] = frozenset(),
    vanished_codes: frozenset[str] = frozenset(),
) -> ClassifiedError:
    """Classify ``exc`` raised by a status call."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {}) or {}
        code = str(error.get("Code") or "")
        # Some services put the text in ``detailedMessage``, which botocore leaves outside "Error".
        message = str(error.get("Message") or exc.response.get("detailedMessage") or exc).strip()
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        http_status = int(status) if status is not None else None
        if code in vanished_codes:
            kind = ErrorKind.VANISHED
        elif code in not_found_codes:
            kind = ErrorKind.NOT_FOUND
        elif code in EXPIRED_CREDENTIAL_CODES or code in REFUSED_CREDENTIAL_CODES:
            kind = ErrorKind.REJECTED_CREDENTIALS
        elif (
            is_throttling_code(code)
            or code in TRANSIENT_CODES
            or "rate exceeded" in message.lower()
            or http_status in (408, 429)
            or (http_status is not None and http_status >= 500)
        ):
            kind = ErrorKind.TRANSIENT
        else:
            kind = ErrorKind.CALLER
        return ClassifiedError(kind, code or str(http_status or "ClientError"), message, http_status)
    if isinstance(exc, AnswerTooLarge):
        return ClassifiedError(ErrorKind.CALLER, "AnswerTooLarge", str(exc))
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, NoRegionError, ParamValidationError)):
        return ClassifiedError(ErrorKind.CALLER, type(exc).__name__, str(exc))
    # aiobotocore wraps what aiohttp raised; botocore raises SSLError itself.
    cause = exc.kwargs.get("error") if isinstance(exc, HTTPClientError) else exc
    if isinstance(cause, (SSLError, ssl.SSLCertVerificationError, FileNotFoundError, PermissionError,
                          IsADirectoryError)):
        # A missing CA bundle or a certificate that does not validate is configuration:
        # waiting out a 15-minute budget would only delay the same failure.
        return ClassifiedError(ErrorKind.CALLER, "SSLError", str(exc))
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        # EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError.
        return ClassifiedError(ErrorKind.TRANSIENT, type(exc).__name__, str(exc))
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError, OSError)):
        return ClassifiedError(ErrorKind.TRANSIENT, type(exc).__name__, str(exc) or type(exc).__name__)
    if isinstance(exc, BotoCoreError):
        # Includes ResponseParserError: a proxy's HTML page or a truncated body. AWS answers
        # JSON, so an unparseable answer comes from something in between; it usually passes.
        return ClassifiedError(ErrorKind.TRANSIENT, type(exc).__name__, str(exc))
    return ClassifiedError(ErrorKind.CALLER, type(exc).__name__, str(exc) or repr(exc))


def is_throttle(exc: BaseException, *, not_found_codes: frozenset[str] = frozenset(),
                vanished_codes: frozenset[str] = frozenset()) -> bool:
    """Whether ``exc`` is AWS throttling the call (a shared rate budget may absorb it)."""
    if isinstance(exc, CallerMistake):
        return False
    error = classify(exc, not_found_codes=not_found_codes, vanished_codes=vanished_codes)
    return error.kind is ErrorKind.TRANSIENT and error.throttled


def advice(error: ClassifiedError, *, iam_action: str, aws_conn_id: str | None, otherwise: str | None = None) -> str:
    """What the user should check, in one sentence, for a caller error; ``otherwise`` replaces
    the closing sentence about a query's identifiers (a start call has none yet)."""
    conn = f"connection {aws_conn_id!r}" if aws_conn_id else "the default boto3 credentials"
    if error.code in {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}:
        return f"Check that the IAM identity of {conn} is allowed `{iam_action}` on this resource."
    if error.code in REFUSED_CREDENTIAL_CODES:
        return (f"AWS refused the credentials of {conn}, also after the client was rebuilt from it: check "
                "its access key (rotated, deactivated or mistyped?), its secret, and the clocks.")
    if error.kind is ErrorKind.REJECTED_CREDENTIALS:
        return f"The credentials of {conn} expired and could not be refreshed; check its role or keys."
    if error.code == "AnswerTooLarge":
        return (f"A status answer is a few KiB: check the endpoint_url of {conn} (a proxy or another service may "
                f"be answering), or raise `[querystatus] {MAX_ANSWER_OPTION}` if such answers are expected.")
    if error.code in {"NoCredentialsError", "PartialCredentialsError"}:
        return f"No usable AWS credentials: check {conn}."
    if error.code == "SSLError":
        return (f"TLS to the endpoint failed: check `verify` (a CA bundle path must exist) and the endpoint's "
                f"certificate, and the endpoint_url of {conn}.")
    if error.code == "NoRegionError":
        return "No AWS region: set `region_name` or the connection's region."
    return otherwise or (
        "Check that the identifiers are right, that the query was started in this account "
        "and region, and that it has not expired."
    )
