"""``make check-install AIRFLOW=<line>``: install the built wheel as the README says, into a user's
environment of that line, and prove it changes nothing else and works.

1. Build the wheel (or take ``--wheel``).
2. A fresh venv (``python -m venv``, uv installed into it as the Makefile does) with that line's
   Airflow and ``apache-airflow-providers-amazon[aiobotocore]``, at the versions of the line's
   lock, and every other package at the newest version that ``requirements/install-<line>.txt``
   allows: what a user who resolves without the project's lock has (none of the package's own
   test dependencies).
3. ``uv pip freeze``, then ``pip install <wheel> -c requirements/install-<line>.txt`` (the README's
   command), then the freeze again: only ``airflow-querystatus`` may have been added, nothing
   changed. ``pip check`` is clean.
4. Every example DAG under ``airflow dags test`` in that venv: ``tests/e2e/test_dags_test.py``
   with ``QUERYSTATUS_AIRFLOW_BIN`` naming the fresh venv's bin directory
   (``scripts/stack_environment.py``), so the same assertions apply.

``--constraints none`` installs without the small constraints file: how its pins were measured
(which newest package breaks the line). Everything lives in one temporary directory, removed at
the end (on failure and Ctrl-C too); the total time is printed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_dist import ROOT, run
from stack_environment import AIRFLOW_BIN_VARIABLE

#: The uv the Makefile installs into its venvs (its ``UV_VERSION``), installed the same way here.
UV_VERSION = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1)  # type: ignore[union-attr]
#: What a user of the line has before adding this package.
USER_PACKAGES = ("apache-airflow", "apache-airflow-providers-amazon")


def lock_version(lock: Path, package: str) -> str:
    """The version of ``package`` that the line's full lock pins (the Airflow CI tests)."""
    found = re.search(rf"^{re.escape(package)}==(\S+)$", lock.read_text(), re.MULTILINE)
    if found is None:
        raise SystemExit(f"{lock} pins no {package}")
    return found.group(1)


def freeze(uv: Path, python: Path) -> dict[str, str]:
    """Installed distributions and their versions (or, installed from a file, its URL), as
    ``uv pip freeze`` lists them (``name==version`` or ``name @ url``)."""
    listed = run(uv, "pip", "freeze", "-p", python, capture_output=True).stdout
    return dict(re.split(r"==| @ ", line, maxsplit=1) for line in listed.splitlines() if line.strip())


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Every distribution added, removed or moved to another version, one line each."""
    return [f"{name}: {before.get(name, '-')} -> {after.get(name, '-')}"
            for name in sorted(before.keys() | after.keys()) if before.get(name) != after.get(name)]


def user_environment(venv: Path, lock: Path, constraints: list[str]) -> Path:
    """A fresh venv with the line's Airflow and amazon provider (aiobotocore extra) and the newest
    of everything else the constraints allow; returns its uv."""
    run(sys.executable, "-m", "venv", venv)
    python, uv = venv / "bin" / "python", venv / "bin" / "uv"
    run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", f"uv=={UV_VERSION}")
    airflow, amazon = (lock_version(lock, package) for package in USER_PACKAGES)
    run(uv, "pip", "install", "-q", "-p", python, f"apache-airflow=={airflow}",
        f"apache-airflow-providers-amazon[aiobotocore]=={amazon}", *constraints)
    return uv


def install_as_documented(venv: Path, wheel: Path, constraints: list[str]) -> None:
    """The README's command, in the user's environment: pip, the wheel, the small constraints;
    then ``pip check``."""
    python, uv = venv / "bin" / "python", venv / "bin" / "uv"
    before = freeze(uv, python)
    run(python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel, *constraints)
    after = freeze(uv, python)
    others = [change for change in changes(before, after) if not change.startswith("airflow-querystatus:")]
    if others:
        raise SystemExit("installing the wheel changed the user's packages:\n  " + "\n  ".join(others))
    if "airflow-querystatus" in before or "airflow-querystatus" not in after:
        raise SystemExit(f"pip install {wheel.name} did not add airflow-querystatus to a venv without it")
    print(f"the install added only airflow-querystatus; the {len(before)} packages of the user's "
          f"environment are unchanged: {' '.join(f'{n}=={v}' for n, v in sorted(before.items()))}", flush=True)
    run(python, "-m", "pip", "check", "--disable-pip-version-check")


def dags_test(venv: Path) -> None:
    """tests/e2e/test_dags_test.py, its Airflow (CLI, emulator) taken from the fresh venv."""
    env = {**os.environ, AIRFLOW_BIN_VARIABLE: str(venv / "bin")}
    run(Path(sys.executable).parent / "pytest", ROOT / "tests" / "e2e" / "test_dags_test.py",
        "-q", "-p", "no:cacheprovider", "-n", "0", cwd=ROOT, env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a built wheel (default: build one)")
    parser.add_argument("--constraints", default="default",
                        help="the constraints file users pass (default: requirements/install-<line>.txt; "
                             "'none': without one, to measure what breaks)")
    options = parser.parse_args()
    line = os.environ.get("AIRFLOW", "3.3")
    lock = ROOT / "requirements" / f"airflow-{line}.txt"
    small = ROOT / "requirements" / f"install-{line}.txt" if options.constraints == "default" else options.constraints
    constraints = [] if small == "none" else ["-c", str(small)]
    started = time.time()

    def done(what: str) -> None:
        print(f"[check-install {time.time() - started:.0f}s] {what}", flush=True)

    with tempfile.TemporaryDirectory(prefix="querystatus-install-") as tmp:
        work = Path(tmp)
        wheel = options.wheel
        if wheel is None:
            run(sys.executable, "-m", "build", "--wheel", "--outdir", work / "dist", ROOT, stdout=subprocess.DEVNULL)
            (wheel,) = (work / "dist").glob("*.whl")
            done(f"built {wheel.name}")
        venv = work / "venv"
        user_environment(venv, lock, constraints)
        done(f"user environment of Airflow {line} installed")
        install_as_documented(venv, wheel.resolve(), constraints)
        done("wheel installed as the README says, nothing else changed, pip check clean")
        dags_test(venv)
        done("every example DAG passed under airflow dags test in that environment")
    print(f"check-install AIRFLOW={line} passed in {time.time() - started:.0f}s "
          f"({'no constraints' if not constraints else small})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
