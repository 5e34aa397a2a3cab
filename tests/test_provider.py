"""The package registers as an Airflow provider and everything it lists imports."""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib.metadata import entry_points

import airflow_querystatus


def test_entry_point_returns_provider_info() -> None:
    (entry,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_querystatus")]
    info = entry.load()()
    assert info["package-name"] == "airflow-querystatus"
    assert info["versions"] == [airflow_querystatus.__version__]
    for kind in ("hooks", "sensors", "triggers", "operators"):
        for group in info[kind]:
            for module in group["python-modules"]:
                importlib.import_module(module)


def test_airflow_providers_list_shows_it(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "-o", "plain"],
        capture_output=True,
        text=True,
        check=True,
        env={"AIRFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    ).stdout
    assert "airflow-querystatus" in out
