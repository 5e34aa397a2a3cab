"""What ``make demo-ha`` and the HA end-to-end test need of each operation is derived from the
registry and the emulator's catalogue, so a new operation needs no edit in them; these fast
checks run that derivation for every operation (the e2e runs themselves are slow)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from airflow_querystatus.emulator.catalogue import emulated_specs
from airflow_querystatus.emulator.examples import EXAMPLES
from airflow_querystatus.emulator.model import KINDS, Step
from airflow_querystatus.status import StatusSpec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests" / "e2e" / "dags"))

import demo_ha  # noqa: E402
from e2e_ha import FAMILIES  # noqa: E402


@pytest.mark.parametrize("spec", emulated_specs(), ids=lambda s: s.key)
def test_every_operation_is_held_until_released_or_ends_by_itself(spec: StatusSpec) -> None:
    script = [Step.parse(step) for step in demo_ha.held_script(spec)]
    last = script[-1]
    if spec.vanishes:  # run synchronously by its operator: it ends by itself
        assert last.state in spec.success_states
    else:
        assert last.state in spec.pending_states and last.polls is None and last.seconds is None
    assert demo_ha.FINAL[spec.key] in spec.success_states


def test_the_planted_graph_loads_are_held() -> None:
    plants = {key: example.plant for key, example in EXAMPLES.items() if example.plant is not None}
    assert plants
    for key, plant in plants.items():
        spec = next(s for s in emulated_specs() if s.key == key)
        assert demo_ha.GRAPH_LOAD in plant["text"]
        last = [Step.parse(step) for step in demo_ha.held(plant["steps"])][-1]
        assert last.state in spec.pending_states and last.polls is None and last.seconds is None


def test_the_ha_dags_families_are_emulated_operations_with_their_scopes() -> None:
    for sensor_class, scope in FAMILIES.values():
        assert sensor_class.spec.key in KINDS
        assert list(scope) == [ident.name for ident in sensor_class.spec.identifiers[:-1]]
