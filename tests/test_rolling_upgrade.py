"""Trigger kwargs written by an older release load and run in this one (rolling upgrades).

During an upgrade a triggerer running the new package picks up triggers that a task running
the old package serialized into the trigger table. tests/data/trigger_kwargs_0.1.0.json holds
what 0.1.0's ``serialize()`` wrote, one per operation.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cases import CASES
from tests.harness import first_event

#: Every test here runs triggers, whose status polls [querystatus] prepared_status_calls changes.
pytestmark = pytest.mark.prepared_sensitive

WRITTEN = json.loads((Path(__file__).parent / "data" / "trigger_kwargs_0.1.0.json").read_text())["triggers"]


@pytest.mark.parametrize("written", WRITTEN, ids=[w["classpath"].rsplit(".", 1)[1] for w in WRITTEN])
def test_kwargs_from_0_1_0_load_and_run(emulator, written: dict[str, Any]) -> None:
    module, _, name = written["classpath"].rpartition(".")
    trigger_class = getattr(importlib.import_module(module), name)
    # The query family, its scope and its id argument are the trigger's spec's (the registry's).
    (case,) = [case for case in CASES if case.spec is trigger_class.spec]
    kwargs = dict(written["kwargs"])
    scope = {ident.name: kwargs[ident.name] for ident in case.spec.identifiers[:-1]}
    query = emulator.add_query(case.kind, scope, steps=[(case.pending, 1), case.success])
    assert kwargs[case.id_arg] == "QUERY_ID", "0.1.0 wrote the query id under another argument name"
    kwargs[case.id_arg] = query.query_id
    trigger = trigger_class(**kwargs)
    event = asyncio.run(first_event(trigger, timeout=30))
    assert event.payload["status"] == "success", event.payload
    # What the old release asked for still holds.
    assert trigger.serialize()[1]["stop_on_kill"] == written["kwargs"]["stop_on_kill"]
    assert trigger.serialize()[1]["deadline"] == written["kwargs"]["deadline"]
