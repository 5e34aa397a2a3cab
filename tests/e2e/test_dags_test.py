"""``airflow dags test <dag_id>`` for every example DAG against a freshly started emulator (slow; e2e).

What a new user does first: no scheduler or triggerer, the emulator started on its own,
one ``airflow db migrate`` (SQLite), then ``airflow dags test`` in its own process for each
example (scripts/dags_test.py). Each DAG ends as the registry says (``StatusSpec.example``:
the ``_failing`` one fails, with Athena's reason) and no task needed a retry to get there:
a deferred operator resumes from its trigger's event alone, since ``dag.test()`` drops the
``kwargs`` given to ``defer()`` on every line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from dags_test import DagTest, dags_test_stack, run_all  # noqa: E402
from demo import DAGS  # noqa: E402

pytestmark = pytest.mark.e2e
#: Why each DAG designed to fail fails (the reason its emulator-script gives the query).
FAILS_WITH = {"example_athena_spark_failing": "ZeroDivisionError: division by zero"}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DagTest]]:
    stack = dags_test_stack(tmp_path_factory.mktemp("airflow-dags-test"))
    try:
        done = run_all(stack, list(DAGS))
    finally:
        stack.stop()
    print(json.dumps({"dags_test_s": {dag_id: round(r.seconds, 1) for dag_id, r in done.items()}}))
    yield done


@pytest.mark.parametrize("dag_id", list(DAGS))
def test_example_dag_ends_as_designed_under_airflow_dags_test(results: dict[str, DagTest], dag_id: str) -> None:
    result = results[dag_id]
    context = f"{dag_id}: tasks {result.tasks}\n{result.output[-4000:]}"
    assert result.state == DAGS[dag_id], context
    assert result.retried == {}, context
    assert "TypeError" not in result.output, context
    if DAGS[dag_id] == "success":
        assert result.returncode == 0, context
        assert result.tasks and set(result.tasks.values()) == {"success"}, context
    else:  # failed as designed: by its query's failure, not by anything else
        assert FAILS_WITH[dag_id] in result.output, context
