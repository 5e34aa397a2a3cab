"""Server-side SigV4 verification, written from AWS's published algorithm (not botocore's code),
so that a request signed wrongly, by botocore or by the prepared status call, is refused as AWS
would refuse it.

Only requests signed with an access key the emulator knows are verified: keys registered with
:meth:`Credentials.register` (``--credentials KEY:SECRET``) and the temporary keys its STS
hands out (which also carry a session token). Requests signed with any other key are served
without a check, as before, so tests that do not care about credentials need not register any.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import posixpath
import threading
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web

ALGORITHM = "AWS4-HMAC-SHA256"
#: How far a request's X-Amz-Date may be from the emulator's clock (AWS allows 15 minutes).
ALLOWED_SKEW = datetime.timedelta(minutes=15)


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: the error code and message AWS answers with (HTTP 403)."""

    code: str
    message: str


@dataclass(frozen=True)
class _Secret:
    secret_key: str
    session_token: str | None


class Credentials:
    """The access keys whose signatures the emulator checks (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, _Secret] = {}
        self._deactivated: set[str] = set()
        #: Off only for tests that sign with a faked clock.
        self.check_clock = True

    def register(self, access_key: str, secret_key: str, session_token: str | None = None) -> None:
        with self._lock:
            self._keys[access_key] = _Secret(secret_key, session_token)
            self._deactivated.discard(access_key)

    def deactivate(self, access_key: str) -> None:
        """Refuse the key from now on, as AWS refuses a deactivated or deleted access key."""
        with self._lock:
            self._deactivated.add(access_key)
            self._keys.pop(access_key, None)

    def known(self, access_key: str | None) -> bool:
        with self._lock:
            return access_key in self._keys

    def refusal(self, request: web.Request, body: bytes) -> Refusal | None:
        """None if the request may be served, else why AWS would refuse it."""
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith(ALGORITHM + " "):
            return None
        fields = dict(
            part.strip().split("=", 1) for part in authorization[len(ALGORITHM) + 1:].split(",") if "=" in part
        )
        scope = fields.get("Credential", "").split("/")
        with self._lock:
            secret = self._keys.get(scope[0])
            deactivated = scope[0] in self._deactivated
        if deactivated:
            return Refusal("UnrecognizedClientException", "The security token included in the request is invalid.")
        if secret is None:
            return None  # not a key this emulator checks
        if len(scope) != 5 or scope[4] != "aws4_request" or "SignedHeaders" not in fields:
            return Refusal("IncompleteSignatureException", "Authorization header requires Credential and "
                                                           "SignedHeaders in the SigV4 form.")
        amz_date = request.headers.get("X-Amz-Date", "")
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            return Refusal("IncompleteSignatureException", f"Invalid X-Amz-Date {amz_date!r}.")
        if self.check_clock and abs(datetime.datetime.now(datetime.timezone.utc) - when) > ALLOWED_SKEW:
            return Refusal("InvalidSignatureException", f"Signature expired: {amz_date} is outside the allowed "
                                                        "15 minute window.")
        if secret.session_token is not None and request.headers.get("X-Amz-Security-Token") != secret.session_token:
            return Refusal("UnrecognizedClientException", "The security token included in the request is invalid.")
        if scope[1] != amz_date[:8]:
            return Refusal("InvalidSignatureException", "Credential should be scoped to a valid date.")
        signed_headers = fields["SignedHeaders"].split(";")
        if "host" not in signed_headers:
            return Refusal("InvalidSignatureException", "'Host' must be a signed header.")
        expected = signature(secret.secret_key, request, body, scope, signed_headers, amz_date)
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            return Refusal("InvalidSignatureException", "The request signature we calculated does not match the "
                                                        "signature you provided.")
        return None


def signature(secret_key: str, request: web.Request, body: bytes, scope: list[str], signed_headers: list[str],
              amz_date: str) -> str:
    """The SigV4 signature of ``request`` (AWS General Reference, "Create a signed AWS API request")."""
    raw_path, _, raw_query = request.raw_path.partition("?")
    path = posixpath.normpath(raw_path) if raw_path not in ("", "/") else "/"
    if raw_path.endswith("/") and path != "/":
        path += "/"
    pairs = sorted(tuple(pair.partition("=")[::2]) for pair in raw_query.split("&") if pair)
    headers = "".join(
        f"{name}:{' '.join(','.join(request.headers.getall(name, [])).split())}\n" for name in signed_headers
    )
    payload = request.headers.get("X-Amz-Content-SHA256") or hashlib.sha256(body).hexdigest()
    canonical = "\n".join([
        request.method.upper(),
        quote(path, safe="/~"),  # the path as sent, encoded once more (every service but S3)
        "&".join(f"{key}={value}" for key, value in pairs),
        headers,
        ";".join(signed_headers),
        payload,
    ])
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    string_to_sign = "\n".join([ALGORITHM, amz_date, "/".join(scope[1:]), digest])
    key = f"AWS4{secret_key}".encode()
    for part in scope[1:]:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
