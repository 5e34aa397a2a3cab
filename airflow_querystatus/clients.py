"""Process-wide shared aiobotocore clients for triggers.

An aiobotocore client costs milliseconds of CPU, a TLS handshake and most of a MiB to
create. One triggerer may hold thousands of waits on the same connection, region and
service, so they share one client per :class:`ClientKey`:

* created through the amazon provider's hook, so every credential method of an ``aws``
  connection works (keys, profiles, assume-role with refreshable credentials); the hook
  runs in a thread through :func:`~airflow_querystatus.compat.run_sync` (as the provider's
  ``get_async_conn`` does), keeping connection look-ups and STS calls off the event loop;
* reference-counted by the waits that use it (:meth:`SharedClientPool.subscribe`) and
  closed when the last one leaves;
* replaced after ``max_age`` seconds, or at once when AWS refuses its credentials (a rotated
  or deactivated key, expired credentials): :meth:`SharedClientPool.invalidate` names the
  client that failed, so however many waits saw the refusal, the client is rebuilt once; a
  replaced client is closed once its in-flight calls return;
* bounded in what one call may hold: a call holds one of the client's slots (which pace how
  many requests are made at once) for at most :data:`SLOT_HOLD` seconds, and the client has
  more connections than slots, so calls stuck on a hanging or dripping endpoint do not keep
  healthy waits on the same client from polling (:mod:`airflow_querystatus.bounds` cuts the
  stuck calls off at their limit).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

# aiobotocore's client machinery is imported here, when the triggerer loads a trigger class,
# rather than by the hook inside the first poll on the triggerer's event loop.
import aiobotocore.session  # noqa: F401
from botocore.config import Config

from airflow_querystatus import __version__, bounds, budget, prepared
from airflow_querystatus.compat import conf, run_sync
from airflow_querystatus.errors import ErrorKind, classify
from airflow_querystatus.hooks import hook_class_for
from airflow_querystatus.loop_timers import cutoffs, per_running_loop
from airflow_querystatus.status import status_methods

DEFAULT_MAX_CLIENT_AGE = 900.0
#: How many calls of one client may be making their request at once (signing, sending,
#: parsing): more would only queue for the loop. A call still waiting for its answer after
#: :data:`SLOT_HOLD` seconds gives its slot up: it is waiting on the network, not using CPU.
DEFAULT_SLOTS = 50
SLOT_HOLD = 1.0
#: Connections per client: four times the slots, so that calls stuck on an endpoint that hangs
#: or drips (until their limit passes) leave connections for the others. botocore's default of
#: 10 would queue calls once hundreds of waits share a client.
DEFAULT_MAX_POOL_CONNECTIONS = 4 * DEFAULT_SLOTS
log = logging.getLogger(__name__)

#: Standard retry mode retries the throttling and 5xx codes these APIs use
#: (legacy mode misses TooManyRequestsException and LimitExceededException).
DEFAULT_RETRIES: dict[str, Any] = {"mode": "standard", "max_attempts": 3}
#: The connection extra and the ``[querystatus]`` option that turn prepared status calls off.
PREPARED_CALLS_OPTION = "prepared_status_calls"


def prepared_calls_enabled(connection_extra: Mapping[str, Any]) -> bool:
    """Whether status polls may use prepared calls (:mod:`airflow_querystatus.prepared`):
    on unless the ``[querystatus] prepared_status_calls`` option or the connection's
    ``prepared_status_calls`` extra says false."""
    if not conf.getboolean("querystatus", PREPARED_CALLS_OPTION, fallback=True):
        return False
    value = connection_extra.get(PREPARED_CALLS_OPTION, True)
    if isinstance(value, str):
        return value.strip().lower() not in {"false", "0", "no", "off"}
    return bool(value)


def shared_client_retries(chosen: Mapping[str, Any] | None, key: ClientKey, *, paced: bool) -> dict[str, Any]:
    """The retry settings of a shared client: the package's defaults under the user's choice,
    key by key (a user's ``{"total_max_attempts": 1}`` keeps the standard mode rather than
    falling back to botocore's legacy one), with two exceptions.

    ``adaptive`` mode becomes standard. botocore's adaptive mode puts one rate limiter in each
    client. A shared client serves every wait of the triggerer on its connection, so that one
    limiter would queue thousands of waits, each call's queueing counted against its cut-off
    (measured: 970 of 1,000 waits never saw their completion within 6 minutes, issue 30). The
    package's shared budget (:mod:`airflow_querystatus.budget`) does what adaptive mode is
    chosen for, across every wait of the account.

    ``paced`` (the shared budget is on) and no number of attempts chosen: one attempt. The
    budget paces each call it admits, but botocore's in-call retries of a throttled call are
    sent unpaced, and the budget hears of the throttle only if every attempt failed. Measured
    with 1,000 waits against 50 calls/s: 5.7 % of calls throttled with four attempts, 0.3 %
    with one, the same detection times (``benchmarks/quota.py --attempts 1``). With one
    attempt each throttle reaches the budget, which retries the poll paced; other transient
    errors go to the wait's own backoff and error budget, as prepared polls' always did. The
    other calls made on a trigger's client retry themselves: a list call through its own
    budget, a stop call a few times (:func:`call_retrying_transient_errors`).
    """
    retries = {**DEFAULT_RETRIES, **(chosen or {})}
    if retries.get("mode") == "adaptive":
        retries["mode"] = "standard"
        _note_once(("adaptive", key), "Connection %r asks for botocore's adaptive retry mode; the status calls of its "
                   "triggers use standard mode, and the provider's shared rate budget per account and operation "
                   "paces them instead of one limiter per client (see the README, 'Quotas').", key.aws_conn_id)
    if paced and not {"max_attempts", "total_max_attempts"} & set(chosen or {}):
        retries.pop("max_attempts", None)
        retries["total_max_attempts"] = 1
    return retries


#: A stop call's attempts, and the seconds before the second and the third.
STOP_ATTEMPTS_BACKOFF = (1.0, 2.0)


async def call_retrying_transient_errors(call: Callable[[], Awaitable[Any]], *, operation: str) -> Any:
    """Make a call that has no other retry (a trigger's stop call: its client may make one
    attempt, see :func:`shared_client_retries`), retrying throttling and 5xx twice, after 1 s
    and 2 s; any other error, or a third transient one, is raised."""
    for backoff in (*STOP_ATTEMPTS_BACKOFF, None):
        try:
            return await call()
        except Exception as exc:
            if backoff is None or classify(exc).kind is not ErrorKind.TRANSIENT:
                raise
            log.info("%s failed with a transient error (%s); retrying in %gs.", operation, exc, backoff)
            await asyncio.sleep(backoff)


_noted: set[Any] = set()


def _note_once(key: Any, message: str, *args: Any) -> None:
    if key not in _noted:
        _noted.add(key)
        log.info(message, *args)


@dataclass(frozen=True)
class ClientKey:
    """Everything that makes two clients different; equal keys share one client."""

    service: str
    aws_conn_id: str | None
    region_name: str | None
    endpoint_url: str | None
    verify: bool | str | None
    #: ``botocore_config`` as canonical JSON, so that dicts compare and hash.
    botocore_config_json: str

    @classmethod
    def build(
        cls,
        service: str,
        *,
        aws_conn_id: str | None,
        region_name: str | None,
        endpoint_url: str | None = None,
        verify: bool | str | None = None,
        botocore_config: Mapping[str, Any] | None = None,
    ) -> ClientKey:
        return cls(
            service=service,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            endpoint_url=endpoint_url,
            verify=verify,
            botocore_config_json=json.dumps(dict(botocore_config or {}), sort_keys=True, default=str),
        )

    @property
    def botocore_config(self) -> dict[str, Any] | None:
        config: dict[str, Any] = json.loads(self.botocore_config_json)
        return config or None


#: Creates an entered aiobotocore client and returns it with its async closer.
ClientFactory = Callable[[ClientKey], Awaitable["tuple[Any, Callable[[], Awaitable[Any]]]"]]


@dataclass(eq=False)
class _PooledClient:
    client: Any
    close: Callable[[], Awaitable[Any]]
    created_at: float
    #: At most as many calls in flight as the client has connections: the rest wait here,
    #: before botocore spends CPU serialising and signing a request that would only queue
    #: for a connection. This spreads a burst of polls over the loop instead of one stall.
    slots: asyncio.Semaphore
    in_flight: int = 0
    retired: bool = False


@dataclass(eq=False)
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    current: _PooledClient | None = None
    subscribers: int = 0


class SharedClientPool:
    """Shares clients between the waits of one event loop (see module docstring)."""

    def __init__(self, factory: ClientFactory, *, max_age: float = DEFAULT_MAX_CLIENT_AGE) -> None:
        self._factory = factory
        self._max_age = max_age
        self._slots: dict[ClientKey, _Slot] = {}
        self.clients_created = 0
        self.clients_closed = 0

    @asynccontextmanager
    async def subscribe(self, key: ClientKey) -> AsyncIterator[None]:
        """Keep the key's client alive for the duration of one wait."""
        slot = self._slots.setdefault(key, _Slot())
        slot.subscribers += 1
        try:
            yield
        finally:
            slot.subscribers -= 1
            if slot.subscribers == 0:
                pooled, slot.current = slot.current, None
                del self._slots[key]
                if pooled is not None:
                    pooled.retired = True
                    await self._close_if_idle(pooled)

    @asynccontextmanager
    async def borrow(self, key: ClientKey) -> AsyncIterator[Any]:
        """The key's current client for one call (the caller must hold a subscription)."""
        pooled = await self._current(key)
        pooled.in_flight += 1
        slots = pooled.slots
        held = False

        def give_back() -> None:
            nonlocal held
            if held:
                held = False
                slots.release()

        try:
            await slots.acquire()
            held = True
            # A call that outlives SLOT_HOLD waits on the network: its slot goes to the next call.
            # (A shared cut-off, not a loop timer: a cancelled timer would stay in the loop's
            # heap, see loop_timers.)
            hold = cutoffs()
            token = hold.arm(SLOT_HOLD, give_back)
            try:
                yield pooled.client
            finally:
                hold.disarm(token)
                give_back()
        finally:
            pooled.in_flight -= 1
            await self._close_if_idle(pooled)

    async def invalidate(self, key: ClientKey, failed: Any = None) -> None:
        """Build a new client on the next borrow (after AWS refused this one's credentials).

        ``failed`` is the client the caller's call failed on: if the key's client is already
        another one (another wait saw the refusal first and it was rebuilt), nothing happens,
        so a refusal seen by a thousand waits rebuilds the client once.
        """
        slot = self._slots.get(key)
        if slot is None or slot.current is None:
            return
        if failed is not None and slot.current.client is not failed:
            return
        pooled, slot.current = slot.current, None
        pooled.retired = True
        await self._close_if_idle(pooled)

    async def budget_for(self, key: ClientKey, operation: str) -> budget.RateBudget:
        """The shared rate budget of the key's client's account for ``operation`` (the caller
        must hold a subscription; the client is made if need be)."""
        pooled = await self._current(key)
        return budget.shared_budgets().for_key(budget.key_for(pooled.client, operation))

    @property
    def open_clients(self) -> int:
        return self.clients_created - self.clients_closed

    async def _current(self, key: ClientKey) -> _PooledClient:
        slot = self._slots.get(key)
        if slot is None:
            raise RuntimeError(f"borrow() without subscribe() for {key}")
        pooled = slot.current
        if pooled is not None and time.monotonic() - pooled.created_at < self._max_age:
            return pooled
        async with slot.lock:  # one creation per key, however many waits ask at once
            pooled = slot.current
            if pooled is not None and time.monotonic() - pooled.created_at >= self._max_age:
                pooled.retired = True
                slot.current = None
                await self._close_if_idle(pooled)
                pooled = None
            if pooled is None:
                client, close = await self._factory(key)
                self.clients_created += 1
                connections = getattr(getattr(client, "meta", None), "config", None)
                limit = getattr(connections, "max_pool_connections", None) or DEFAULT_MAX_POOL_CONNECTIONS
                slots = asyncio.Semaphore(min(limit, DEFAULT_SLOTS))
                pooled = slot.current = _PooledClient(client, close, time.monotonic(), slots)
            return pooled

    async def _close_if_idle(self, pooled: _PooledClient) -> None:
        if pooled.retired and pooled.in_flight == 0:
            pooled.retired = False  # close exactly once
            pooled.in_flight = -1
            self.clients_closed += 1
            await pooled.close()


async def create_client_through_hook(key: ClientKey) -> tuple[Any, Callable[[], Awaitable[Any]]]:
    """Default factory: build the client with the service's hook (see module docstring)."""
    hook_cls = hook_class_for(key.service)
    params: dict[str, Any] = {
        "aws_conn_id": key.aws_conn_id,
        "region_name": key.region_name,
        "verify": key.verify,
        "config": key.botocore_config,
    }
    if key.endpoint_url is not None:
        params["endpoint_url"] = key.endpoint_url
    hook = hook_cls(**params)

    def prepare() -> tuple[Any, dict[str, Any], bool, tuple[str | None, str | None]]:
        # The blocking part (connection look-up, STS for assume-role): the session and the
        # client's arguments. The hook's session carries every credential method of the
        # connection. The client is made here rather than by ``hook.get_client_type`` to keep
        # the user agent short: the provider's long ``user_agent_extra`` is re-sanitised by
        # botocore on every call, a measurable share of each poll's CPU when thousands of
        # waits share the client. Pool defaults apply only where neither the argument nor
        # the connection's ``config_kwargs`` chose a value; ``retries``: shared_client_retries.
        chosen = hook.config
        defaults = Config(
            max_pool_connections=DEFAULT_MAX_POOL_CONNECTIONS,
            retries=shared_client_retries(chosen.retries, key, paced=budget.budgets_enabled()),
            user_agent_extra=f"airflow-querystatus/{__version__}",
        )
        session = hook.get_session(region_name=hook.region_name, deferrable=True)
        arguments = {
            "service_name": key.service,
            "endpoint_url": hook.conn_config.get_service_endpoint_url(service_name=key.service),
            "config": defaults.merge(chosen).merge(Config(retries=defaults.retries)),
            "verify": hook.verify,
        }
        connection = hook.conn_config
        identity = (connection.role_arn, connection.aws_access_key_id)
        return session, arguments, prepared_calls_enabled(connection.extra_config), identity

    session, arguments, prepared_calls, (role_arn, access_key) = await run_sync(prepare)()
    if not role_arn and not access_key:  # the default chain (environment, profile, instance role)
        credentials = await session.get_credentials()
        frozen = await credentials.get_frozen_credentials() if credentials is not None else None
        access_key = getattr(frozen, "access_key", None)
    # Made on the loop and awaited at once: a cancellation while ``prepare`` runs then
    # drops no half-made client (aiobotocore's creator wraps a coroutine).
    creator = session.create_client(**arguments)
    client = await creator.__aenter__()
    budget.set_account(client, budget.identity_of(role_arn, access_key, key.aws_conn_id))
    max_answer_bytes = bounds.configured_max_answer_bytes()
    prepared.attach(client, enabled=prepared_calls, max_answer_bytes=max_answer_bytes)
    bounds.limit_answers(client, status_methods(key.service), max_answer_bytes, asynchronous=True)

    async def close() -> None:
        await creator.__aexit__(None, None, None)

    return client, close


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SharedClientPool] = weakref.WeakKeyDictionary()


def shared_pool() -> SharedClientPool:
    """The pool of the running event loop (one per triggerer process in production)."""
    return per_running_loop(_pools, lambda _loop: SharedClientPool(create_client_through_hook))
