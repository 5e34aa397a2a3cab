"""Status from list calls: one AWS call answers the polls of every wait it lists.

AWS meters each API per account (:mod:`airflow_querystatus.budget`): a thousand waits polling
their own status call need a thousand calls per interval, and against a quota of a few calls a
second each wait is polled every few minutes. Where the operation has a list call that gives the
status of many queries (its :class:`~airflow_querystatus.status.StatusListing`: Logs'
``DescribeQueries``, Neptune's ``List{OpenCypher,Gremlin}Queries``), the waits of one shared
client ask one :class:`StatusLister` instead:

* a poll joins the next **round**; rounds start at least :data:`ROUND_GAP` seconds apart and
  each makes one list call (a page at a time, until every id asked for is found), paced by the
  list call's own rate budget, so every wait's poll is answered by a call sent after it asked;
* an entry in a pending state answers the poll, and so does a final one where the listing's
  entries are final answers; a query the list does not show (finished on Neptune, not listed
  yet, or past the pages read) is polled with its own status call, as without lists;
* a failed round sends its polls to their own status calls; a failure that will not pass by
  itself (access denied, a list call this botocore lacks, a validation error) turns the listing
  off for that client until the process restarts, with one warning naming what to grant.

Lists are used from :data:`MIN_WAITS` waits on one client (``[querystatus] status_lists =
auto``): below that, their own calls are few and answer in full (a list entry lacks the status
answer's statistics). ``always`` uses them from one wait, ``off`` never. Only triggers use lists:
a worker runs one wait.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from airflow_querystatus.bounds import AnswerTooLarge, StatusCallTimeout, configured_call_timeout
from airflow_querystatus.errors import CallerMistake, ErrorKind, classify, is_throttle
from airflow_querystatus.loop_timers import cutoffs, per_running_loop
from airflow_querystatus.status import StatusListing, StatusSpec

if TYPE_CHECKING:
    from airflow_querystatus.budget import RateBudget
    from airflow_querystatus.clients import ClientKey, SharedClientPool

log = logging.getLogger(__name__)

#: The ``[querystatus]`` option (declared in the provider info) and its values.
OPTION = "status_lists"
MODES = ("auto", "always", "off")
#: Seconds between the starts of two rounds of one lister: a poll waits at most this long for
#: its round, and a lister makes at most one round a second however many waits it serves.
ROUND_GAP = 1.0
#: From how many waits on one client ``auto`` uses the list (below, their own calls are few).
MIN_WAITS = 10
#: Pages read in one round at most: ids further down are polled with their own calls.
MAX_PAGES = 10
#: The smallest page size an answer over ``max_answer_bytes`` may halve a page to.
MIN_PAGE_SIZE = 25
#: Seconds between two warnings of one lister about rounds that failed and will be retried.
FAILURE_LOG_INTERVAL = 60.0


def configured_mode() -> str:
    """``[querystatus] status_lists``: auto, always or off."""
    from airflow_querystatus.compat import conf

    value = conf.get("querystatus", OPTION, fallback="auto").strip().lower()
    if value not in MODES:
        raise ValueError(f"`[querystatus] {OPTION}` must be one of {', '.join(MODES)}, got {value!r}.")
    return value


class StatusLister:
    """The list rounds of one operation's listing on one shared client (connection, region, endpoint)."""

    def __init__(self, spec: StatusSpec, key: ClientKey, pool: SharedClientPool) -> None:
        assert spec.listing is not None  # only specs with a listing get a lister
        self.spec = spec
        self.listing: StatusListing = spec.listing
        self._key = key
        self._pool = pool
        self._id_member = spec.identifiers[-1].api_name
        #: Waits that use this lister now (``auto`` lists from MIN_WAITS of them).
        self.members = 0
        #: The polls waiting for the next round, by the id they ask about.
        self._asked: dict[str, list[asyncio.Future[Mapping[str, Any] | None]]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._last_round_at = -math.inf
        self._page_size = self.listing.inputs.get(self.listing.page_size) if self.listing.page_size else None
        #: Why the listing was turned off for this client (a failure that will not pass by itself).
        self.off_because: str | None = None
        self._failure_logged_at = -math.inf

    @asynccontextmanager
    async def member(self) -> AsyncIterator[None]:
        """One wait's use of the lister (counted for ``auto``)."""
        self.members += 1
        try:
            yield
        finally:
            self.members -= 1

    def in_use(self, mode: str) -> bool:
        return self.off_because is None and (mode == "always" or (mode == "auto" and self.members >= MIN_WAITS))

    async def lookup(self, query_id: str, give_up_at: float | None) -> Mapping[str, Any] | None:
        """The list's entry for ``query_id`` when it answers the poll, from a round that starts
        after this call; None when the wait should make its own status call (not listed, a
        state the list cannot end the wait with, a failed round, or ``give_up_at`` passed)."""
        loop = asyncio.get_running_loop()
        asked: asyncio.Future[Mapping[str, Any] | None] = loop.create_future()
        self._asked.setdefault(query_id, []).append(asked)
        if self._runner is None:
            self._runner = loop.create_task(self._run())
        shared = cutoffs()
        token = None
        if give_up_at is not None:
            token = shared.arm(max(0.0, give_up_at - loop.time()), functools.partial(_answer_none, asked))
        try:
            entry = await asked
        finally:
            if token is not None:
                shared.disarm(token)
            if not asked.done():  # cancelled: leave no future for the round to answer
                asked.cancel()
        return self._usable(entry)

    def _usable(self, entry: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        if entry is None:
            return None
        spec = self.spec
        state = spec.read_state(entry)
        final = state in spec.success_states or state in spec.failure_states
        if state in spec.pending_states or (final and self.listing.final_answers):
            return entry
        return None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        asked: dict[str, list[asyncio.Future[Mapping[str, Any] | None]]] = {}
        try:
            while self._asked:
                await asyncio.sleep(max(0.0, self._last_round_at + ROUND_GAP - loop.time()))
                asked, self._asked = self._asked, {}
                asked = {query_id: polls for query_id, polls in asked.items() if any(not p.done() for p in polls)}
                if not asked:
                    continue
                self._last_round_at = loop.time()
                found = await self._round(set(asked))
                for query_id, polls in asked.items():
                    entry = found.get(query_id)
                    for poll in polls:
                        if not poll.done():
                            poll.set_result(entry)
        finally:
            self._runner = None
            # Cancelled (the loop closing): the polls still waiting go to their own calls.
            for polls in (*asked.values(), *self._asked.values()):
                for poll in polls:
                    _answer_none(poll)

    async def _round(self, wanted: set[str]) -> dict[str, Mapping[str, Any]]:
        """The entries of ``wanted`` ids in the list, read page by page until all are found."""
        found: dict[str, Mapping[str, Any]] = {}
        token: str | None = None
        async with self._pool.subscribe(self._key):  # the client lives while its round does
            for _ in range(MAX_PAGES):
                answer = await self._page(token)
                if answer is None:
                    break
                entries = answer.get(self.listing.items)
                for entry in entries if isinstance(entries, list) else ():
                    if isinstance(entry, Mapping) and entry.get(self._id_member) in wanted:
                        found[entry[self._id_member]] = entry
                next_token = answer.get(self.listing.next_token) if self.listing.next_token else None
                if not isinstance(next_token, str) or not next_token or wanted <= found.keys():
                    break
                token = next_token
        return found

    async def _page(self, token: str | None) -> Mapping[str, Any] | None:
        """One list call, through the list call's budget; None when it failed."""
        from airflow_querystatus.budget import budgets_enabled

        listing = self.listing
        params = dict(listing.inputs)
        if listing.page_size is not None:
            params[listing.page_size] = self._page_size
        if token is not None and listing.next_token is not None:
            params[listing.next_token] = token
        loop = asyncio.get_running_loop()
        budget: RateBudget | None = None
        limit = configured_call_timeout()
        while True:
            sent_at: float | None = None
            try:
                if budget is None and budgets_enabled():
                    budget = await self._pool.budget_for(self._key, listing.operation)
                sent_at = await budget.admit(due=loop.time()) if budget is not None else loop.time()
                try:
                    async with self._pool.borrow(self._key) as client, asyncio.timeout(limit):
                        answer = await getattr(client, listing.operation)(**params)
                except TimeoutError as err:
                    raise StatusCallTimeout(listing.operation, limit) from err
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure is judged; none is swallowed
                if budget is not None and sent_at is not None and is_throttle(exc) and budget.throttled(sent_at):
                    continue
                self._failed(exc)
                return None
            if budget is not None:
                budget.answered()
            return answer if isinstance(answer, Mapping) else None

    def _failed(self, exc: BaseException) -> None:
        """A round's page failed: its polls go to their own status calls. A failure that will not
        pass by itself turns the listing off; any other is logged once a minute at most."""
        what = (f"{self.spec.service} {self.listing.operation} (the status list of the {self.spec.title} waits on "
                f"connection {self._key.aws_conn_id!r})")
        if isinstance(exc, AnswerTooLarge) and self._page_size is not None and self._page_size > MIN_PAGE_SIZE:
            self._page_size = max(MIN_PAGE_SIZE, self._page_size // 2)
            log.warning("%s answered more than [querystatus] max_answer_bytes; reading %d entries a page from now on.",
                        what, self._page_size)
            return
        error = classify(exc, not_found_codes=frozenset(), vanished_codes=frozenset())
        if isinstance(exc, CallerMistake) or error.kind is ErrorKind.CALLER:
            self.off_because = f"this botocore has no {self.listing.operation}" if isinstance(
                exc, AttributeError) else error.detail
            log.warning("%s failed with %s: each wait polls %s itself from now on, which spends more of the "
                        "account's quota. Allow the connection %s (or set [querystatus] %s = off to silence this).",
                        what, self.off_because, self.spec.operation, self.spec.iam_action_of(self.listing.operation),
                        OPTION)
            return
        now = asyncio.get_running_loop().time()
        if now - self._failure_logged_at >= FAILURE_LOG_INTERVAL:
            self._failure_logged_at = now
            log.warning("%s failed with %s; the waits it answers poll their own status this time, and the list is "
                        "asked again at their next poll.", what, error.detail)


def _answer_none(poll: asyncio.Future[Mapping[str, Any] | None]) -> None:
    if not poll.done():
        poll.set_result(None)


class StatusListers:
    """The listers of one event loop, by shared client and listing."""

    def __init__(self, _loop: asyncio.AbstractEventLoop) -> None:
        self._listers: dict[tuple[Any, str], StatusLister] = {}

    def for_wait(self, spec: StatusSpec, key: ClientKey, pool: SharedClientPool) -> StatusLister | None:
        if spec.listing is None:
            return None
        index = (key, spec.listing.operation)
        lister = self._listers.get(index)
        if lister is None:
            lister = self._listers[index] = StatusLister(spec, key, pool)
        return lister


_registries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StatusListers] = weakref.WeakKeyDictionary()


def shared_listers() -> StatusListers:
    """The running loop's listers."""
    return per_running_loop(_registries, StatusListers)


class ListedStatus:
    """One wait's way to its lister (the engine's ``Lister``)."""

    __slots__ = ("_call_timeout", "_lister", "_mode", "_query_id")

    def __init__(self, lister: StatusLister, query_id: str, mode: str, call_timeout: float) -> None:
        self._lister = lister
        self._query_id = query_id
        self._mode = mode
        self._call_timeout = call_timeout

    async def listed(self, *, give_up_at: float | None) -> Mapping[str, Any] | None:
        if not self._lister.in_use(self._mode):
            return None
        # A poll waits for a round no longer than a status call may take: then it makes its own.
        bound = asyncio.get_running_loop().time() + ROUND_GAP + self._call_timeout
        return await self._lister.lookup(self._query_id, bound if give_up_at is None else min(give_up_at, bound))
