"""Timers for many waits in one event loop, without a loop timer per wait and per call.

Why: in a triggerer every object a poll leaves alive across the sleep, or across a young
garbage collection while its call is in flight, is promoted into the collector's oldest
generation, and enough promotions start a full collection, which walks the whole heap (in a
triggerer running ``start_from_trigger`` tasks: millions of objects, seconds with the loop
stopped; ``benchmarks/real_triggerer.py``). A plain ``asyncio.sleep`` leaves seven objects
alive until it ends (its coroutine, future, future iterator, the timer, its context and
arguments, the task's wake-up callback), and a cancelled timer (``asyncio.timeout`` of a call
that finished in time, a pool slot's hold) stays in the loop's heap, with its context and
callback, until the heap is pruned, which asyncio does only once cancelled timers are half
of it. Measured with ``benchmarks/poll_garbage.py``; the figures are in the README
("Capacity").

* :class:`SharedWakeUps`: the waits that sleep until the same instant of the wake-up grid
  (they all do, see ``polling.WAKE_UP_GRID``) share one loop timer; each keeps only its own
  future (and the task's wake-up callback) until then.
* :class:`Cutoffs`: time limits of operations in flight (a call's cut-off, a pool slot's
  hold) sit in a dict checked by one loop timer every :data:`CUTOFF_RESOLUTION` seconds while
  any is armed; disarming one frees it at once.
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections.abc import Callable
from typing import TypeVar

#: How late a cut-off may fire, in seconds: a call's limit is seconds long, a slot's hold one.
CUTOFF_RESOLUTION = 0.05


class SharedWakeUps:
    """Sleeps that end on a grid of instants, one loop timer per instant in use."""

    __slots__ = ("_grid", "_loop", "_slots")

    def __init__(self, loop: asyncio.AbstractEventLoop, grid: float) -> None:
        self._loop = loop
        self._grid = grid
        #: Grid index -> the futures of the waits that wake up then.
        self._slots: dict[int, list[asyncio.Future[None]]] = {}

    def at(self, index: int) -> asyncio.Future[None]:
        """A future that completes at loop time ``index * grid``; await it to sleep until then.
        Cancelling it (as cancelling the awaiting task does) affects no other sleeper."""
        waiters = self._slots.get(index)
        if waiters is None:
            waiters = self._slots[index] = []
            self._loop.call_at(index * self._grid, self._wake, index)
        future: asyncio.Future[None] = self._loop.create_future()
        waiters.append(future)
        return future

    def _wake(self, index: int) -> None:
        for future in self._slots.pop(index, ()):
            if not future.done():  # a cancelled sleeper's future is done already
                future.set_result(None)


class Cutoffs:
    """Time limits checked by one periodic loop timer (while any is armed)."""

    __slots__ = ("_due", "_loop", "_tick", "_tokens")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due: dict[int, tuple[float, Callable[[], None]]] = {}
        self._tokens = itertools.count()
        self._tick: asyncio.TimerHandle | None = None

    def arm(self, delay: float, callback: Callable[[], None]) -> int:
        """Call ``callback`` (at most :data:`CUTOFF_RESOLUTION` late) once ``delay`` seconds
        passed, unless :meth:`disarm` is called with the returned token first."""
        token = next(self._tokens)
        self._due[token] = (self._loop.time() + delay, callback)
        if self._tick is None:
            self._tick = self._loop.call_later(CUTOFF_RESOLUTION, self._check)
        return token

    def disarm(self, token: int) -> None:
        self._due.pop(token, None)

    def _check(self) -> None:
        now = self._loop.time()
        expired = [token for token, (when, _) in self._due.items() if when <= now]
        for token in expired:
            entry = self._due.pop(token, None)
            if entry is None:
                continue  # disarmed by an earlier callback
            try:
                entry[1]()
            except Exception as exc:  # one faulty callback must not stop the others' cut-offs
                self._loop.call_exception_handler({"message": "cut-off callback failed", "exception": exc})
        self._tick = self._loop.call_later(CUTOFF_RESOLUTION, self._check) if self._due else None


_T = TypeVar("_T")


def per_running_loop(registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _T],
                     make: Callable[[asyncio.AbstractEventLoop], _T]) -> _T:
    """The running loop's entry of ``registry``, made by ``make(loop)`` on first use; it goes
    with the loop (tests run many loops in one process)."""
    loop = asyncio.get_running_loop()
    found = registry.get(loop)
    if found is None:
        found = registry[loop] = make(loop)
    return found


_wake_ups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SharedWakeUps] = weakref.WeakKeyDictionary()
_cutoffs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Cutoffs] = weakref.WeakKeyDictionary()


def shared_wake_ups(grid: float) -> SharedWakeUps:
    """The running loop's shared wake-ups on ``grid`` (one grid per process: the engine's)."""
    return per_running_loop(_wake_ups, lambda loop: SharedWakeUps(loop, grid))


def cutoffs() -> Cutoffs:
    """The running loop's cut-offs."""
    return per_running_loop(_cutoffs, Cutoffs)
