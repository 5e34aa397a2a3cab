"""Run one CI step (a command) and print its wall-clock and CPU time, children included.

``make ci`` runs every step through this, so a CI log ends each step with one line such as
``ci-step 412.3 s wall, 530.1 s CPU: make test AIRFLOW=3.3``; CONTRIBUTING.md's time budget
is the sum of those lines. The step's exit status is passed on.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time


def main(command: list[str]) -> int:
    start = time.monotonic()
    status = subprocess.call(command)
    wall = time.monotonic() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    print(f"ci-step {wall:.1f} s wall, {cpu:.1f} s CPU{'' if status == 0 else f', exit {status}'}: "
          f"{' '.join(command)}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
