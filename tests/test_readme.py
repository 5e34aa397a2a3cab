"""The README's Python examples run as written on every Airflow line.

Each ```python block is taken out of README.md: one that defines a DAG must load into a DAG
with no import errors (Airflow's own DagBag, as the dag-processor loads a file); any other
block runs. A block that needs a particular line says so on its first line, in words a reader
understands too: ``# Needs Airflow >= 3.3`` (it is skipped, with that reason, below it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_querystatus.compat import AIRFLOW_VERSION

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)
_NEEDS = re.compile(r"\A# Needs Airflow >= (\d+(?:\.\d+)*)")


@dataclass(frozen=True)
class Block:
    line: int
    code: str

    @property
    def needs(self) -> tuple[int, ...] | None:
        """The Airflow version the block's marker comment asks for, if any."""
        marker = _NEEDS.match(self.code)
        return tuple(int(part) for part in marker[1].split(".")) if marker else None

    @property
    def defines_a_dag(self) -> bool:
        return re.search(r"\bDAG\(|@dag\b", self.code) is not None


def python_blocks(text: str) -> list[Block]:
    return [Block(text.count("\n", 0, match.start(1)) + 1, match[1]) for match in _BLOCK.finditer(text)]


BLOCKS = python_blocks(README.read_text())


def test_the_readme_has_python_examples_and_the_extraction_finds_them() -> None:
    assert len(BLOCKS) >= 2 and any(block.defines_a_dag for block in BLOCKS)
    sample = "text\n```python\n# Needs Airflow >= 3.3\nx = 1\n```\n```bash\nls\n```\n"
    (block,) = python_blocks(sample)
    assert (block.line, block.code, block.needs, block.defines_a_dag) == (3, "# Needs Airflow >= 3.3\nx = 1\n",
                                                                          (3, 3), False)


def _dag_bag(path: Path):  # type: ignore[no-untyped-def]
    try:  # Airflow >= 3.3
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]
    return DagBag(dag_folder=str(path))  # without Airflow's examples: conftest turns them off


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README.md:{block.line}" for block in BLOCKS])
def test_readme_python_block_runs_as_written(block: Block, tmp_path: Path, emulator_server) -> None:
    """``emulator_server`` gives the blocks an ``aws_default`` connection (none calls AWS)."""
    if block.needs is not None and tuple(int(p) for p in AIRFLOW_VERSION.split(".")[:len(block.needs)]) < block.needs:
        pytest.skip(f"README.md:{block.line} says it needs Airflow >= {'.'.join(map(str, block.needs))}")
    if block.defines_a_dag:
        path = tmp_path / f"readme_line_{block.line}.py"
        path.write_text(block.code)
        bag = _dag_bag(path)
        assert bag.import_errors == {}, f"README.md:{block.line}: {bag.import_errors}"
        assert bag.dags, f"README.md:{block.line} defines no DAG"
        for dag in bag.dags.values():
            assert dag.tasks, f"README.md:{block.line}: DAG {dag.dag_id} has no task"
    else:
        exec(compile(block.code, f"README.md:{block.line}", "exec"), {"__name__": f"readme_line_{block.line}"})
