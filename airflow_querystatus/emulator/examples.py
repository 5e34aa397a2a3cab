"""What the example DAGs in ``dags/`` wait on, planted when the emulator starts on its own.

Most examples start the queries they wait on. A sensor that waits on a query *someone else*
runs (``example_neptune``'s graph loads) needs that query to exist: each operation's
``StatusSpec.example.plant`` declares it, and :func:`plant_examples` plants every one of them,
so ``python -m airflow_querystatus.emulator`` serves every example with nothing else set up.
The planted queries recur (``Emulator.add_query(recurring=True)``): once one ends, the same
query runs again under a new id, so an example can run any number of times.
"""

from __future__ import annotations

from airflow_querystatus.emulator.model import Emulator, Query
from airflow_querystatus.status import SPECS

#: What a plant may say (``StatusSpec.example.plant``), as in the control API's query body.
PLANT_MEMBERS = frozenset({"identifiers", "steps", "text"})


def plant_examples(emulator: Emulator) -> list[Query]:
    """Plant the running queries the registry's examples wait on; return them."""
    planted = []
    for spec in SPECS.values():
        if spec.emulated is None or spec.example is None or spec.example.plant is None:
            continue
        plant = spec.example.plant
        if unknown := set(plant) - PLANT_MEMBERS:
            raise ValueError(f"{spec.key}: `example.plant` has members the emulator does not know: {sorted(unknown)}")
        planted.append(emulator.add_query(spec.key, plant.get("identifiers"), steps=plant.get("steps"),
                                          text=plant.get("text"), recurring=True))
    return planted
