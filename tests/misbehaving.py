"""An HTTP endpoint that misbehaves as the world can: never answers, drips, answers huge bodies,
redirects in a loop, cuts its answer short, or answers garbage.

It knows nothing of this project: it reads raw HTTP on a socket (127.0.0.1 only) and picks
its behaviour from the first :data:`BEHAVIOURS` word found in the request's path or body, so
one endpoint serves a healthy query (``ok-...``) beside stuck ones on the same connection.
Answers are Athena-shaped (JSON 1.1), so tests point an Athena trigger, sensor or operator at it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

#: Behaviours, by the word the request must contain (checked in this order).
BEHAVIOURS = ("hang", "drip", "huge-chunked", "huge", "redirect", "truncated", "garbage", "ok")
HUGE_BYTES = 256 * 1024 * 1024
DRIP_EVERY = 1.0
_CHUNK = b"x" * (64 * 1024)


def completed_answer() -> bytes:
    return json.dumps({"Status": {"State": "COMPLETED", "SubmissionDateTime": 1.7e9}}).encode()


@dataclass
class Misbehaving:
    """What the endpoint did: requests per behaviour, and bytes it managed to send."""

    port: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    bytes_sent: Counter[str] = field(default_factory=Counter)
    open_now: Counter[str] = field(default_factory=Counter)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: several requests per connection
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                text = (head.split(b"\r\n", 1)[0] + body).decode("latin-1")
                behaviour = next(word for word in BEHAVIOURS if word in text or word == "ok")
                self.requests[behaviour] += 1
                self.open_now[behaviour] += 1
                try:
                    await self._answer(behaviour, writer)
                finally:
                    self.open_now[behaviour] -= 1
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _send(self, behaviour: str, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        await writer.drain()
        self.bytes_sent[behaviour] += len(data)

    async def _answer(self, behaviour: str, writer: asyncio.StreamWriter) -> None:
        json_type = b"Content-Type: application/x-amz-json-1.1\r\n"
        if behaviour == "hang":
            await asyncio.Event().wait()  # accepted, never answered
        if behaviour == "drip":
            await self._send(behaviour, writer, b"HTTP/1.1 200 OK\r\n" + json_type + b"Content-Length: 100000\r\n\r\n")
            while True:  # a byte at a time: every read timeout restarts
                await self._send(behaviour, writer, b" ")
                await asyncio.sleep(DRIP_EVERY)
        if behaviour == "huge":
            await self._send(behaviour, writer, b"HTTP/1.1 200 OK\r\n" + json_type
                             + f"Content-Length: {HUGE_BYTES}\r\n\r\n".encode())
            for _ in range(HUGE_BYTES // len(_CHUNK)):
                await self._send(behaviour, writer, _CHUNK)
            return
        if behaviour == "huge-chunked":
            await self._send(behaviour, writer, b"HTTP/1.1 200 OK\r\n" + json_type
                             + b"Transfer-Encoding: chunked\r\n\r\n")
            for _ in range(HUGE_BYTES // len(_CHUNK)):
                await self._send(behaviour, writer, b"%x\r\n%s\r\n" % (len(_CHUNK), _CHUNK))
            await self._send(behaviour, writer, b"0\r\n\r\n")
            return
        if behaviour == "redirect":
            redirect = b"HTTP/1.1 302 Found\r\nLocation: /redirect\r\nContent-Length: 0\r\n\r\n"
            await self._send(behaviour, writer, redirect)
            return
        if behaviour == "truncated":  # promises 100 bytes, sends 20 and hangs up
            await self._send(behaviour, writer, b"HTTP/1.1 200 OK\r\n" + json_type + b"Content-Length: 100\r\n\r\n"
                             + completed_answer()[:20])
            raise ConnectionError("cut short")
        if behaviour == "garbage":  # a whole answer, but not JSON (a proxy's page)
            page = b"<html><body>502 Bad Gateway</body></html>"
            await self._send(behaviour, writer, b"HTTP/1.1 200 OK\r\n" + json_type
                             + f"Content-Length: {len(page)}\r\n\r\n".encode() + page)
            return
        answer = completed_answer()
        await self._send(behaviour, writer, b"HTTP/1.1 200 OK\r\n" + json_type
                         + f"Content-Length: {len(answer)}\r\n\r\n".encode() + answer)


@contextmanager
def misbehaving_endpoint() -> Iterator[Misbehaving]:
    """Run the endpoint on its own thread and loop for the duration of the block."""
    endpoint = Misbehaving()
    started = threading.Event()
    loop = asyncio.new_event_loop()
    server: asyncio.AbstractServer | None = None

    async def start() -> None:
        nonlocal server
        server = await asyncio.start_server(endpoint._serve, "127.0.0.1", 0, backlog=1024)
        endpoint.port = server.sockets[0].getsockname()[1]
        started.set()

    def run() -> None:
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="misbehaving-endpoint", daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield endpoint
    finally:
        async def shutdown() -> None:
            assert server is not None
            server.close()
            serving = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in serving:
                task.cancel()
            await asyncio.gather(*serving, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
