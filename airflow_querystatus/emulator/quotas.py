"""Account-wide API quotas: one token bucket per operation, as AWS enforces per-account call rates.

AWS meters each API operation per account and region with a token bucket: a steady ``rate`` of
calls a second and a ``burst`` of calls it lets through at once (Athena documents its quotas
this way, "calls per second" and "burst capacity"). One emulator plays one account, so a
quota here is shared by every caller, every connection and every access key of the emulator
process. Quotas are off until one is set; ``*`` gives every operation without a quota of its
own one of the same size (each operation its own bucket, as AWS meters them apart).

This module holds no wire protocol: the server asks :meth:`Quotas.admit` before it answers a
call, and answers a refused one with the service's throttling error (:data:`THROTTLED`) in the
protocol's own shape, doing nothing else. Time is the monotonic clock (or the one given), so a
test can drive a bucket by its burst, or by a clock of its own, without racing wall time.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from airflow_querystatus.emulator.errors import ControlError

#: The quota of every operation that has none of its own.
EVERY_OPERATION = "*"
#: What a call over its quota is answered with, in every emulated service: the code AWS's rate
#: limiting answers (Athena: the "Rate exceeded" of its service quotas page, REFERENCE.md
#: section 5, not ``TooManyRequestsException``, which is its concurrent-query limit; CloudWatch
#: Logs likewise; Internet Monitor and Network Flow Monitor: their modelled throttling error;
#: Neptune Data: the ``ThrottlingException`` its model declares). The HTTP status is each
#: protocol's (the model's ``httpStatusCode``: 429 for Internet Monitor and Network Flow
#: Monitor, 500 for Neptune Data; 400 for the JSON services, which model none [inferred]).
THROTTLED = ("ThrottlingException", "Rate exceeded")


@dataclass(frozen=True)
class Quota:
    """``rate`` calls a second on average, at most ``burst`` at once."""

    rate: float
    burst: float

    @classmethod
    def of(cls, rate: object, burst: object = None) -> Quota:
        """A checked quota; ``burst`` defaults to ``max(1, rate)``. A wrong value raises
        :class:`ControlError` naming ``rate`` or ``burst``."""
        calls = _positive("rate", rate)
        size = max(1.0, calls) if burst is None else _positive("burst", burst)
        if size < 1:
            raise ControlError(f"burst must be at least 1 (one call), got {burst!r}", "burst")
        return cls(calls, size)

    @classmethod
    def parse(cls, text: str) -> tuple[str, Quota]:
        """``OP=RATE[:BURST]`` (the command line's ``--quota``) as the operation and its quota;
        :class:`ControlError` saying what is wrong."""
        operation, equals, value = text.partition("=")
        rate, _, burst = value.partition(":")
        if not equals or not operation.strip() or not rate.strip():
            raise ControlError(f"expected OPERATION=RATE[:BURST] (e.g. GetQueryResults=5:10 or '*=50'), got {text!r}")
        try:
            numbers = [float(rate)] + ([float(burst)] if burst else [])
        except ValueError:
            raise ControlError(f"RATE and BURST must be numbers, got {value!r} in {text!r}") from None
        return operation.strip(), cls.of(*numbers)


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ControlError(f"{name} must be a number > 0, got {value!r}", name)
    return float(value)


class TokenBucket:
    """Full at first; each call takes a token; tokens come back at ``rate`` a second, up to ``burst``."""

    def __init__(self, quota: Quota, now: float) -> None:
        self.quota = quota
        self.tokens = quota.burst
        self.updated = now

    def take(self, now: float) -> bool:
        """Take a token for a call at ``now``; False if there is none (the call is throttled)."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.quota.burst, self.tokens + elapsed * self.quota.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Quotas:
    """The account's quotas and what they did: per operation, the calls let through (``served``)
    and those refused (``throttled``). Every operation is counted, with a quota or without.
    Thread-safe: the server answers in its own thread while a test sets quotas in another.

    A quota is set under an operation's API name (every service that has an operation of that
    name: CloudWatch Logs and Internet Monitor both have ``GetQueryResults``), under
    ``service:Operation`` (``logs:GetQueryResults``, boto3's service name) for one service, or
    under ``*``. A call meets the most specific one, and each service's operation has a bucket
    of its own, as AWS meters each service apart. Counters are kept by API name.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._quotas: dict[str, Quota] = {}
        #: By ``service:Operation``: the bucket and the name of the quota it meters.
        self._buckets: dict[str, tuple[str, TokenBucket]] = {}
        self._counters: dict[str, dict[str, int]] = {}

    def set(self, name: str, quota: Quota) -> None:
        """The quota under ``name`` from now on; the buckets it meters start full."""
        with self._lock:
            self._quotas[name] = quota
            self._buckets = {key: found for key, found in self._buckets.items() if found[0] != name}

    def clear(self) -> None:
        """No quota any more, and no count: as a new emulator starts."""
        with self._lock:
            self._quotas.clear()
            self._buckets.clear()
            self._counters.clear()

    def limits(self) -> dict[str, Quota]:
        """The quotas in force, by the name they were set under (``*`` included)."""
        with self._lock:
            return dict(self._quotas)

    def admit(self, service: str, operation: str) -> bool:
        """Whether a call to ``service``'s ``operation`` (API name) is within its quota now
        (counted either way)."""
        key = f"{service}:{operation}"
        with self._lock:
            name = next((n for n in (key, operation, EVERY_OPERATION) if n in self._quotas), None)
            served = True
            if name is not None:
                found = self._buckets.get(key)
                if found is None or found[0] != name:
                    found = self._buckets[key] = (name, TokenBucket(self._quotas[name], self._clock()))
                served = found[1].take(self._clock())
            counts = self._counters.setdefault(operation, {"served": 0, "throttled": 0})
            counts["served" if served else "throttled"] += 1
            return served

    def counters(self) -> dict[str, dict[str, int]]:
        """``{operation: {"served": n, "throttled": m}}`` for every operation called so far."""
        with self._lock:
            return {op: dict(counts) for op, counts in self._counters.items()}
