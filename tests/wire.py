"""What a client sends, seen from the wire: a recording HTTP proxy and a test certificate authority.

:class:`RecordingProxy` is a forward proxy on 127.0.0.1 that relays every request to one
upstream (the emulator) and records it: method, absolute URL, headers, body, and the client
connection it came on. It answers ``CONNECT`` by terminating TLS itself with a certificate of
the test CA (for any host the certificate names: ``*.us-east-1.amazonaws.com`` and the
dual-stack ``*.us-east-1.api.aws``), so that the requests a client sends to an AWS endpoint
(FIPS, dual-stack, botocore's own resolution) are recorded too, and answered by the emulator;
nothing leaves the loopback. Each test starts its own and stops it (``with RecordingProxy(...)``).

:class:`TestAuthority` makes a CA, a server certificate for the emulator and the proxy, and a
client certificate, in a directory (EC P-256 keys: milliseconds).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: What the server certificate names: the loopback, and the AWS endpoints of us-east-1.
SERVER_NAMES = ("localhost", "*.us-east-1.amazonaws.com", "*.us-east-1.api.aws")


@dataclass(frozen=True)
class Recorded:
    """One request the proxy relayed."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    #: Which client connection (numbered from 1 as accepted) it came on.
    connection: int
    #: The ``CONNECT`` target it came through, if any (``host:port``).
    tunnel: str | None


class LocalServer:
    """An asyncio server on 127.0.0.1 in a thread of its own, for the duration of a ``with``."""

    #: The TLS context the server's connections are wrapped in (None: plain TCP).
    listen_tls: ssl.SSLContext | None = None
    port: int = 0

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        ready = threading.Event()

        def serve() -> None:
            loop = self._loop = asyncio.new_event_loop()
            server = loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0, ssl=self.listen_tls))
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=serve, name=type(self).__name__, daemon=True)
        self._thread.start()
        assert ready.wait(10), f"{type(self).__name__} did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        assert not self._thread.is_alive(), f"{type(self).__name__} did not stop"


class TLSFront(LocalServer):
    """TLS in front of a local port: an HTTPS proxy, made of a :class:`RecordingProxy`."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        self.backend, self.listen_tls = port, context

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1", self.backend)
        await asyncio.gather(_pipe(reader, backend_writer), _pipe(backend_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass  # either side closed
    finally:
        writer.close()


@dataclass
class RecordingProxy(LocalServer):
    """A forward and ``CONNECT`` proxy on 127.0.0.1 relaying to ``upstream`` (host, port)."""

    upstream: tuple[str, int]
    #: The TLS context ``CONNECT`` tunnels are terminated with (None: ``CONNECT`` is refused).
    tunnel_tls: ssl.SSLContext | None = None
    requests: list[Recorded] = field(default_factory=list)
    connections: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection, tunnel = self.connections, None
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                method, target, headers = _parse_head(head)
                if method == "CONNECT":
                    if self.tunnel_tls is None:
                        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                        return
                    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    await writer.drain()
                    await writer.start_tls(self.tunnel_tls)
                    tunnel = target
                    continue
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                url = target if tunnel is None else f"https://{tunnel.removesuffix(':443')}{target}"
                self.requests.append(Recorded(method, url, headers, body, connection, tunnel))
                writer.write(await self._relay(method, url, head, body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # the client closed its connection
        finally:
            writer.close()

    async def _relay(self, method: str, url: str, head: bytes, body: bytes) -> bytes:
        """The upstream's answer to the request, framed by Content-Length for a kept-alive client."""
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = head.decode("latin-1").split("\r\n")[1:]
        kept = [line for line in lines if line and line.partition(":")[0].strip().lower()
                not in {"connection", "proxy-connection", "keep-alive"}]
        reader, writer = await asyncio.open_connection(*self.upstream)
        writer.write(_head(f"{method} {path} HTTP/1.0", kept) + body)
        await writer.drain()
        answer = await reader.read()  # HTTP/1.0: the upstream closes after its answer
        writer.close()
        response_head, _, response_body = answer.partition(b"\r\n\r\n")
        status, *header_lines = response_head.decode("latin-1").split("\r\n")
        framed = [line for line in header_lines if line.partition(":")[0].strip().lower()
                  not in {"connection", "keep-alive", "content-length", "transfer-encoding"}]
        framed.append(f"Content-Length: {len(response_body)}")
        return _head(status.replace("HTTP/1.0", "HTTP/1.1"), framed) + response_body


def _head(first_line: str, header_lines: list[str]) -> bytes:
    return "".join(f"{line}\r\n" for line in (first_line, *header_lines, "")).encode("latin-1")


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    request_line, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return method, target, headers


class TestAuthority:
    """A CA and the certificates it signs, written to ``directory`` (PEM)."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "querystatus test CA")])
        self._name = name
        self._cert = (self._builder(name, self._key.public_key())
                      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                      .sign(self._key, hashes.SHA256()))
        self.ca = self._write("ca.pem", self._cert.public_bytes(serialization.Encoding.PEM))
        self.server = self._issue("server", [x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                             *(x509.DNSName(name) for name in SERVER_NAMES)],
                                  ExtendedKeyUsageOID.SERVER_AUTH)
        self.client = self._issue("client", [x509.DNSName("querystatus-client")], ExtendedKeyUsageOID.CLIENT_AUTH)

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        """A server-side context with the server certificate (optionally requiring a client's)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*self.server)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca)
        return context

    def _builder(self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.timezone.utc)
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(self._name).public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2)))

    def _issue(self, stem: str, names: list[x509.GeneralName], usage: x509.ObjectIdentifier) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"querystatus test {stem}")])
        cert = (self._builder(subject, key.public_key())
                .add_extension(x509.SubjectAlternativeName(names), critical=False)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .sign(self._key, hashes.SHA256()))
        return (self._write(f"{stem}.pem", cert.public_bytes(serialization.Encoding.PEM)),
                self._write(f"{stem}.key", key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption())))

    def _write(self, name: str, data: bytes) -> str:
        path = self.directory / name
        path.write_bytes(data)
        return str(path)
