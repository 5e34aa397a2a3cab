"""What the cyclic garbage collector does in a process: collections and pauses per generation,
each full collection, and the objects promoted into the oldest generation.

Why promotions: CPython (3.11) starts a full collection, which walks every tracked object of
the process (in a triggerer that runs ``start_from_trigger`` tasks, millions: one deserialized
DAG per trigger), once the objects that survived into the oldest generation since the last
full collection exceed a quarter of those it already holds. An object that lives across two
young collections is promoted, even if it dies a moment later; so a waiting loop that keeps a
few containers alive across each poll (or in flight while a call waits) brings the next full
collection, and its pause, closer. A loop of sleeping timers promotes almost nothing.
"""

from __future__ import annotations

import gc
import time
from typing import Any


class GcWatch:
    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.pause_seconds = [0.0, 0.0, 0.0]
        #: Objects moved into the oldest generation by young (generation 1) collections.
        self.promoted = 0
        #: One entry per full collection: when it ended (UNIX time), its pause, what it freed.
        self.full: list[dict[str, float]] = []
        self._started = 0.0
        self._candidates = 0
        gc.callbacks.append(self._on_gc)

    def stop(self) -> None:
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        generation = info["generation"]
        if phase == "start":
            if generation == 1:  # generations 0 and 1 are merged; survivors go to the oldest
                self._candidates = len(gc.get_objects(0)) + len(gc.get_objects(1))
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        self.collections[generation] += 1
        self.pause_seconds[generation] += pause
        if generation == 1:
            self.promoted += max(0, self._candidates - info["collected"])
        elif generation == 2:
            self.full.append({"at": time.time(), "pause": pause, "collected": info["collected"]})

    def snapshot(self) -> dict[str, Any]:
        return {"collections": list(self.collections), "pause_seconds": list(self.pause_seconds),
                "promoted": self.promoted, "full": list(self.full)}
