"""The benchmarks run and report every field (tiny N; figures are not asserted).

Only on the line the benchmarks are documented for (``make benchmark`` and ``make
benchmark-triggerer`` run on 3.3, the Makefile's default): what they measure is this package's
waiting code, which every other line's suite tests on its own; running them there too cost CI
about a minute per line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from airflow import __version__ as AIRFLOW_VERSION

from airflow_querystatus.emulator.catalogue import emulated_specs

ROOT = Path(__file__).resolve().parents[2]
BENCHMARK_LINE = "3.3"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not AIRFLOW_VERSION.startswith(BENCHMARK_LINE + "."),
                       reason=f"the benchmarks run on Airflow {BENCHMARK_LINE} (make benchmark's default line)"),
]


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


def test_real_triggerer_benchmark_measures_ours_beside_the_baseline() -> None:
    """A real 3.3 deployment, tiny: two DAGs of six waits per kind, a 6 s window."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "real_triggerer.py"), "--sizes", "12", "--tasks-per-dag", "6",
         "--window", "6", "--settle", "1", "--interval", "1"],
        capture_output=True, text=True, check=True, timeout=600,
    )
    report = json.loads(out.stdout)
    by_kind = {result["kind"]: result for result in report["results"]}
    assert set(by_kind) == {"baseline", "ours"}
    for result in by_kind.values():
        assert result["dags"] == 2 and result["window_s"] >= 6
        assert {"triggerer supervisor", "trigger runner", "scheduler", "database"} <= set(result["cpu_s_per_min"])
        assert result["cpu_s_per_min"]["trigger runner"] > 0 and result["runner_rss_mb"] > 0
        assert result["tracked_objects"] > 0 and result["waits_started_s"] > 0
        for key in ("loop_stalls", "longest_stall_s", "full_collections_per_min", "promoted_per_min",
                    "young_collections_per_min"):
            assert key in result
    assert by_kind["baseline"]["polls_per_s"] == 0
    assert by_kind["ours"]["polls_per_s"] > 0 and by_kind["ours"]["promoted_per_poll"] >= 0
    assert by_kind["ours"]["detection_p99_s"] >= by_kind["ours"]["detection_p50_s"] > 0
    assert "ours minus baseline, per poll" in out.stderr



#: make benchmark-quota's two commands, tiny, and the rows (row, budget, lists) each must report.
QUOTA_RUNS = {
    "athena": (["--rows", "20x10", "20x10x2", "--budgets", "adaptive", "off"],
               {(row, budget, "auto") for row in ("20x10", "20x10x2") for budget in ("adaptive", "off")}),
    "logs": (["--kind", "logs", "--rows", "20x5", "--budgets", "adaptive", "--lists", "auto", "off"],
             {("20x5", "adaptive", "auto"), ("20x5", "adaptive", "off")}),
}


@pytest.mark.parametrize("kind", QUOTA_RUNS)
def test_quota_benchmark_reports_every_row(kind: str) -> None:
    args, expected = QUOTA_RUNS[kind]
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "quota.py"), *args, "--finish", "2", "4"],
                         capture_output=True, text=True, check=True, timeout=300)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert sorted((r["row"], r["budget"], r["lists"]) for r in rows) == sorted(expected)
    for row in rows:
        assert row["kind"] == kind and row["not_success"] == 0 and row["calls"] > 0  # a list call answers many
        for key in ("throttled_share", "ok_calls_per_s_first_60s", "quota_used_first_60s", "detection_s", "ideal_s",
                    "warnings", "warnings_max_per_minute", "cpu_s", "ok_calls_per_s_per_process"):
            assert key in row
