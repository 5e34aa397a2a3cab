"""SigV4 for a request that never changes: botocore's canonical form once, two slots per poll.

A status poll re-sends one request whose method, URL, body and signed headers are fixed for the
whole wait; only the date, the session token and the signature change. botocore's
``SigV4Auth.add_auth`` nevertheless rebuilds the canonical request from scratch on every call
(header maps, URL parsing, sorting), which is most of a prepared poll's own CPU.

:class:`FixedRequestSigner` asks botocore's own ``SigV4Auth`` (its public methods) for the
canonical request ONCE, with placeholders where the date and the token go, so every
canonicalisation rule (which headers are signed, the host header, path and query encoding,
the payload hash) stays botocore's. Each poll then fills the two slots, hashes, and signs with
the AWS4 key derivation, which is fixed by the SigV4 specification. The derived signing key
is cached per (secret, day, region, service), as AWS recommends.

Byte-identical headers against botocore's signer (with and without session tokens, tokens with
whitespace runs, across a date change) are proven by ``tests/test_signing.py``; at run time the
prepared path's self-check compares a request signed here with the plain client's own, signature
included.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

ALGORITHM = "AWS4-HMAC-SHA256"
_DATE_SLOT = "\x00x-amz-date\x00"
_TOKEN_SLOT = "\x00x-amz-security-token\x00"


@dataclass(frozen=True, slots=True)
class _CanonicalForm:
    """The canonical request with the date (and token) slots, and its signed-header list."""

    text: str
    signed_headers: str


def _canonical_form(method: str, url: str, headers: dict[str, str], body: bytes, region: str, service: str,
                    *, with_token: bool) -> _CanonicalForm:
    slots = {"X-Amz-Date": _DATE_SLOT}
    if with_token:
        slots["X-Amz-Security-Token"] = _TOKEN_SLOT
    request = AWSRequest(method=method, url=url, headers={**headers, **slots}, data=body)
    auth = SigV4Auth(None, service, region)
    return _CanonicalForm(auth.canonical_request(request), auth.signed_headers(auth.headers_to_sign(request)))


def canonical_header_value(value: str) -> str:
    """A header value as SigV4's canonical headers hold it: ``Trimall``, i.e. leading and
    trailing whitespace removed and every run of whitespace (spaces, tabs, newlines, and every
    other character ``str.split`` counts as whitespace) made one space, exactly as botocore's
    ``SigV4Auth`` does. The header itself is sent as it is."""
    return " ".join(value.split())


class SigningKeys:
    """The last derived AWS4 signing key (it changes when the day or the secret does)."""

    __slots__ = ("_for", "_key")

    def __init__(self) -> None:
        self._for: tuple[str, str, str, str] | None = None
        self._key = b""

    def get(self, secret: str, day: str, region: str, service: str) -> bytes:
        wanted = (secret, day, region, service)
        if wanted != self._for:
            key = f"AWS4{secret}".encode()
            for part in (day, region, service, "aws4_request"):
                key = hmac.new(key, part.encode(), sha256).digest()
            self._key, self._for = key, wanted
        return self._key


class FixedRequestSigner:
    """Signs one unchanging request again and again.

    ``headers`` are the request's headers that SigV4 signs, without ``X-Amz-Date``,
    ``X-Amz-Security-Token`` and ``Authorization`` (the signer adds those). The request's
    parts stay readable (``method``, ``url``, ``headers``, ``body``), so that whoever sends it
    holds them once, here.
    """

    __slots__ = ("_forms", "_keys", "body", "headers", "method", "region", "service", "url")

    def __init__(self, method: str, url: str, headers: dict[str, str], body: bytes | None, region: str,
                 service: str, keys: SigningKeys | None = None) -> None:
        self.method, self.url, self.headers, self.body = method, url, headers, body
        self.region, self.service = region, service
        self._forms: dict[bool, _CanonicalForm] = {}
        self._keys = keys if keys is not None else SigningKeys()

    def signed_header_names(self, *, with_token: bool) -> str:
        """The ``SignedHeaders`` list this signer produces (``host;x-amz-date;...``)."""
        return self._form(with_token).signed_headers

    def _form(self, with_token: bool) -> _CanonicalForm:
        form = self._forms.get(with_token)
        if form is None:
            form = self._forms[with_token] = _canonical_form(
                self.method, self.url, self.headers, self.body or b"", self.region, self.service,
                with_token=with_token)
        return form

    def sign(self, credentials: Any, timestamp: str | None = None) -> dict[str, str]:
        """The ``X-Amz-Date``, ``X-Amz-Security-Token`` (with a token) and ``Authorization``
        headers for ``credentials`` (botocore frozen credentials) at ``timestamp`` (default: now,
        by botocore's clock)."""
        if timestamp is None:
            # Looked up on the module at each call: the same clock and format as botocore's
            # signer, also when a test or a user replaced the clock.
            timestamp = botocore.auth.get_current_datetime().strftime(botocore.auth.SIGV4_TIMESTAMP)
        token = credentials.token
        form = self._form(bool(token))
        canonical = form.text.replace(_DATE_SLOT, timestamp)
        if token:
            canonical = canonical.replace(_TOKEN_SLOT, canonical_header_value(token))
        scope = f"{timestamp[:8]}/{self.region}/{self.service}/aws4_request"
        string_to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{sha256(canonical.encode()).hexdigest()}"
        key = self._keys.get(credentials.secret_key, timestamp[:8], self.region, self.service)
        signature = hmac.new(key, string_to_sign.encode(), sha256).hexdigest()
        headers = {"x-amz-date": timestamp}
        if token:
            headers["x-amz-security-token"] = token
        headers["authorization"] = (f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
                                    f"SignedHeaders={form.signed_headers}, Signature={signature}")
        return headers
