"""The benchmarks run and report every field (tiny N; figures are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_querystatus.emulator.catalogue import emulated_specs

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_triggerer_scale_benchmark_reports_all_scenarios(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "triggerer_scale.py"), "--sizes", "20", "--provider-sizes", "20",
         "--runs", "1", "--running-seconds", "1", "--poll-interval", "0.5", "--max-poll-interval", "1"],
        capture_output=True, text=True, check=True, timeout=300,
    )
    report = json.loads(out.stdout)
    assert report["errors"] == []
    (result,) = report["results"]
    assert set(result["scenarios"]) == {"floor", "prepared", "plain", "provider"}
    for row in result["scenarios"].values():
        assert row["completed_min"] == 20 and row["api_calls"] >= 20
        for key in ("cpu_seconds", "cpu_seconds_min", "cpu_seconds_max", "cpu_us_per_wait", "cpu_us_per_call",
                    "import_cpu_s", "first_client_cpu_s", "peak_rss_mib", "loop_lag_p99_ms",
                    "detection_delay_p99_s", "wall_seconds", "gc_cpu_s", "gc_full_collections"):
            assert key in row
    for pair in ("prepared_vs_floor", "plain_vs_floor", "provider_vs_prepared"):
        assert {"cpu", "peak_rss"} <= set(result["ratios"][pair])
    assert "prepared CPU = " in out.stderr


@pytest.mark.e2e
def test_per_poll_benchmark_reports_both_paths_for_every_operation(tmp_path: Path) -> None:
    figures = tmp_path / "per_poll.json"
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "per_poll.py"), "--polls", "100",
                          "--json", str(figures)], capture_output=True, text=True, check=True, timeout=300)
    assert "prepared us" in out.stdout
    rows = json.loads(figures.read_text())
    assert [row["operation"] for row in rows] == [spec.key for spec in emulated_specs()]
    for row in rows:
        assert row["plain_us"] > 0 and row["prepared_us"] > 0
        assert row["ratio"] == pytest.approx(row["prepared_us"] / row["plain_us"], abs=0.01)
