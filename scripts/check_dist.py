"""``make check-dist``: build the wheel and sdist, check them, and use the wheel as a user would.

1. ``python -m build`` makes both; ``twine check`` passes on both.
2. The wheel holds the package, ``py.typed`` and the license, and no tests, DAGs or scripts.
3. A fresh venv that installs only the wheel (plus Airflow, through the line's lock as
   constraints) imports every module the provider metadata lists, registers the provider,
   and starts the emulator command.
4. With pytest added to that venv, the pytest plugin loads from the wheel's entry point and
   the documented example project (docs/examples/my_project) passes there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from process_sweep import run_leaving_nothing  # noqa: E402

BIN = Path(sys.executable).parent


def run(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(map(str, args)), flush=True)
    return subprocess.run([str(a) for a in args], check=True, text=True, **kwargs)  # type: ignore[call-overload]


def check_wheel_contents(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "airflow_querystatus/py.typed" in names, "py.typed is missing from the wheel"
    assert any(re.search(r"\.dist-info/(licenses/)?LICENSE$", n) for n in names), "LICENSE is missing"
    junk = [n for n in names if n.split("/")[0] in {"tests", "dags", "scripts", "benchmarks", "build"}
            or "__pycache__" in n or n.endswith(".pyc")]
    assert not junk, f"the wheel carries files users do not need: {junk[:10]}"
    print(f"wheel: {len(names)} files, py.typed and LICENSE present, no tests or build junk")


def check_fresh_install(wheel: Path, lock: Path, work: Path) -> None:
    venv = work / "venv"
    run(BIN / "uv", "venv", "-q", "-p", sys.executable, venv)
    python = venv / "bin" / "python"
    run(BIN / "uv", "pip", "install", "-q", "-p", python, wheel, "-c", lock)
    env = {**os.environ, "AIRFLOW_HOME": str(work / "airflow-home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    imported = run(python, "-c", (
        "import importlib\n"
        "from airflow_querystatus import get_provider_info\n"
        "info = get_provider_info()\n"
        "modules = {m for kind in ('hooks', 'sensors', 'triggers', 'operators') for entry in info[kind]\n"
        "           for m in entry['python-modules']} | {'airflow_querystatus.emulator'}\n"
        "for m in sorted(modules):\n"
        "    importlib.import_module(m)\n"
        "print(len(modules), 'modules import')\n"
    ), env=env, capture_output=True)
    print(imported.stdout.strip())
    providers = run(venv / "bin" / "airflow", "providers", "list", env=env, capture_output=True)
    assert "airflow-querystatus" in providers.stdout, "the provider is not registered"
    print("airflow providers list shows airflow-querystatus")
    emulator = subprocess.Popen([str(python), "-m", "airflow_querystatus.emulator", "--port", "0"],
                                stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert emulator.stdout is not None
        line = emulator.stdout.readline()
        assert "emulator listening on http://127.0.0.1:" in line, line
        print(line.strip())
    finally:
        emulator.terminate()
        emulator.wait(10)
    check_pytest_plugin(venv, lock, work, env)


def check_pytest_plugin(venv: Path, lock: Path, work: Path, env: dict[str, str]) -> None:
    """The plugin users get from the wheel alone: its fixtures run the documented example."""
    python = venv / "bin" / "python"
    run(BIN / "uv", "pip", "install", "-q", "-p", python, "pytest", "moto", "-c", lock)  # the example's test needs
    project = work / "my_project"
    shutil.copytree(ROOT / "docs" / "examples" / "my_project", project)
    env = {**env, "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags")}
    run(venv / "bin" / "airflow", "db", "migrate", env=env, capture_output=True)
    fixtures = run(python, "-m", "pytest", "--fixtures", "-q", cwd=project, env=env, capture_output=True)
    assert "querystatus_aws_connection" in fixtures.stdout, "the pytest plugin did not load from the wheel"
    result = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    print("pytest plugin loads from the wheel; the example project:", result.stdout.strip().splitlines()[-1])


def main() -> int:
    lock = ROOT / "requirements" / f"airflow-{os.environ.get('AIRFLOW', '3.3')}.txt"
    with tempfile.TemporaryDirectory(prefix="querystatus-dist-") as tmp:
        work = Path(tmp)
        dist = work / "dist"
        started = time.time()
        run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", dist, ROOT, stdout=subprocess.DEVNULL)
        (wheel,) = dist.glob("*.whl")
        (sdist,) = dist.glob("*.tar.gz")
        run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist)
        check_wheel_contents(wheel)
        check_fresh_install(wheel, lock, work)
        print(f"check-dist passed in {time.time() - started:.0f}s: {wheel.name}, {sdist.name}")
    return 0


if __name__ == "__main__":
    sys.exit(run_leaving_nothing(main))
