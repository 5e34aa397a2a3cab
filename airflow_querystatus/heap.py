"""Opt-in for triggerers that run many ``start_from_trigger`` tasks: keep their long-lived heap
out of Python's full garbage collections (``[querystatus] freeze_triggerer_heap = True``).

Why: CPython (3.11) runs a full collection, which walks every object the collector tracks
with the whole process stopped, once the objects promoted into its oldest generation since
the last one pass a quarter of it. Airflow's triggerer keeps one deserialized DAG per
``start_from_trigger`` task: about 3.4 million tracked objects for 3,000 waits of 100-task
DAGs, walked in 2.8 s (``benchmarks/real_triggerer.py``). Any steady activity brings the next
one: this package's polls (fewer since ``loop_timers``, not none: a call in flight still
crosses young collections), and triggers starting and ending. A stall delays every trigger
of that triggerer, and past ``[triggerer] runner_health_check_threshold`` (30 s) its
triggers move to another one.

With the option on, the first of this package's triggers to run in a process makes the
collector's full collections periodic instead of automatic there:

* the automatic full collections stop (the young ones go on as before: short-lived garbage,
  cycles included, is freed as it always is);
* every :data:`FREEZE_INTERVAL` seconds a collection walks only the objects made since the
  last one, and what survives is frozen (``gc.freeze``): it is not walked again;
* every :data:`THAW_INTERVAL` seconds everything is thawed (``gc.unfreeze``) and collected
  once: the one long pause, now once an hour rather than every minute or two.

The cost: reference cycles among objects that died while frozen (a finished wait's DAG) are
freed at the next thaw, up to an hour later, instead of at the next full collection; objects
freed by reference counting, most of them, are freed at once as always. Turn it on in the
triggerer's environment only (``AIRFLOW__QUERYSTATUS__FREEZE_TRIGGERER_HEAP=True``).
"""

from __future__ import annotations

import gc
import logging
import threading
import time

log = logging.getLogger(__name__)

OPTION = "freeze_triggerer_heap"
#: Seconds between two short collections of what was made since the last freeze.
FREEZE_INTERVAL = 600.0
#: Seconds between two collections of the whole heap (thawed first).
THAW_INTERVAL = 3600.0
#: The collector's third threshold while the keeper runs: no automatic full collection.
_NO_AUTOMATIC_FULL_COLLECTION = 2**30

_lock = threading.Lock()
_keeper: threading.Thread | None = None


def enabled() -> bool:
    from airflow_querystatus.compat import conf  # here: the decision core imports polling without Airflow

    return conf.getboolean("querystatus", OPTION, fallback=False)


def keep_long_lived_objects_frozen() -> bool:
    """Start the keeper in this process if the option is on (once); True if it runs."""
    global _keeper
    if not enabled():
        return False
    with _lock:
        if _keeper is None:
            young, middle, _ = gc.get_threshold()
            gc.set_threshold(young, middle, _NO_AUTOMATIC_FULL_COLLECTION)
            gc.collect()
            gc.freeze()
            _keeper = threading.Thread(target=_keep, name="querystatus-heap-keeper", daemon=True)
            _keeper.start()
            log.info("[querystatus] %s is on: this process's full garbage collections run every %.0f s over "
                        "recent objects and every %.0f s over the whole heap (frozen meanwhile).",
                        OPTION, FREEZE_INTERVAL, THAW_INTERVAL)
    return True


def _keep() -> None:
    last_thaw = time.monotonic()
    while True:
        time.sleep(FREEZE_INTERVAL)
        whole = time.monotonic() - last_thaw >= THAW_INTERVAL
        if whole:
            gc.unfreeze()
            last_thaw = time.monotonic()
        started = time.perf_counter()
        freed = gc.collect()
        gc.freeze()
        log.info("Collected %s heap in %.3f s (%d objects freed); %d objects frozen.",
                 "the whole" if whole else "the recent", time.perf_counter() - started, freed, gc.get_freeze_count())
