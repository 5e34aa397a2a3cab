"""The real-triggerer benchmark's probe, loaded by every Airflow process it starts (this folder
is put first on their ``PYTHONPATH``; Python imports ``sitecustomize`` at start-up).

Nothing happens unless ``QUERYSTATUS_PROBE_DIR`` is set. Then, in a process that runs an
asyncio event loop (the trigger runner), a daemon thread measures what users of that loop
feel and what may cause it, and writes it to ``$QUERYSTATUS_PROBE_DIR/<pid>.json`` about once
a second:

* **loop stalls**: every 50 ms the thread asks the loop to run a callback and times how long
  after it was due that ran (a pause holding the GIL, a full garbage collection, delays the
  thread's own wake-up too); a stall is a delay over 0.2 s (Airflow's own ``blocked_main_thread_warning_threshold``),
  kept with its wall-clock time, so the benchmark can count those inside its steady window;
* **garbage collections** (``gc_watch.GcWatch``): collections and pauses per generation,
  each full collection, and the objects promoted into the oldest generation;
* the **objects the collector tracks**, counted when ``count-objects`` appears in the probe
  folder (walking them all stalls the loop itself, so the benchmark asks only after its
  steady window);
* a **profile** of the loop's thread on request: when ``profile-start`` appears in the probe
  folder, ``cProfile`` is enabled on the loop's thread; at ``profile-stop`` it is disabled
  and written to ``<pid>.prof``.

Why here and not in Airflow's logs: Airflow's own blocked-thread line is logged at INFO, and
the benchmark runs at WARNING (at INFO, every trigger's log line costs the triggerer's
supervisor a database cycle, which would dominate what is measured).
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import json
import os
import sys
import threading
import time
from pathlib import Path

from gc_watch import GcWatch

STALL_SECONDS = 0.2
TICK_SECONDS = 0.05


class _Probe:
    def __init__(self, folder: Path, loop: asyncio.AbstractEventLoop) -> None:
        self.folder = folder
        self.loop = loop
        self.pid = os.getpid()
        self.stalls: list[tuple[float, float]] = []  # (wall time at the stall's end, seconds)
        self.ticks = 0
        self.longest_wait = 0.0
        self.gc = GcWatch()
        self.tracked: int | None = None
        self._profile: cProfile.Profile | None = None

    def run(self) -> None:
        last_write = 0.0
        due = time.monotonic()
        while True:
            done = threading.Event()
            try:
                self.loop.call_soon_threadsafe(done.set)
            except RuntimeError:  # the loop is closed: the process is ending
                return
            done.wait()
            # Counted from when this tick was due, not from when the thread woke: a pause
            # that holds the GIL (a full garbage collection) keeps this thread asleep too.
            waited = time.monotonic() - due
            self.ticks += 1
            self.longest_wait = max(self.longest_wait, waited)
            if waited > STALL_SECONDS:
                self.stalls.append((time.time(), waited))
            if self.tracked is None and (self.folder / "count-objects").exists():
                self.tracked = len(gc.get_objects())
            self._follow_profile_requests()
            if time.monotonic() - last_write >= 1.0:
                self._write()
                last_write = time.monotonic()
            due = time.monotonic() + TICK_SECONDS
            time.sleep(TICK_SECONDS)

    def _follow_profile_requests(self) -> None:
        if self._profile is None and (self.folder / "profile-start").exists() \
                and not (self.folder / "profile-stop").exists():
            self._profile = cProfile.Profile()
            self.loop.call_soon_threadsafe(self._profile.enable)
        elif self._profile is not None and (self.folder / "profile-stop").exists():
            profile, self._profile = self._profile, None
            finished = threading.Event()

            def stop() -> None:
                profile.disable()
                finished.set()

            self.loop.call_soon_threadsafe(stop)
            finished.wait(60)
            profile.dump_stats(str(self.folder / f"{self.pid}.prof"))

    def _write(self) -> None:
        report = {
            "pid": self.pid, "ppid": os.getppid(), "argv": sys.argv, "written_at": time.time(),
            "ticks": self.ticks, "longest_wait": self.longest_wait, "stalls": self.stalls,
            **self.gc.snapshot(),
            "tracked": self.tracked,
        }
        path = self.folder / f"{self.pid}.json"
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(report))
        partial.replace(path)


def _install(folder: Path) -> None:
    original = asyncio.BaseEventLoop.run_forever
    probed: set[int] = set()

    def run_forever(self: asyncio.BaseEventLoop) -> None:
        if os.getpid() not in probed:  # the first loop of each process (a forked child too)
            probed.add(os.getpid())
            threading.Thread(target=_Probe(folder, self).run, name="querystatus-probe", daemon=True).start()
        original(self)

    asyncio.BaseEventLoop.run_forever = run_forever  # type: ignore[method-assign]


if os.environ.get("QUERYSTATUS_PROBE_DIR"):
    _install(Path(os.environ["QUERYSTATUS_PROBE_DIR"]))
