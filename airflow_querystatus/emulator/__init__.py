"""A local emulator of the AWS query APIs this provider waits on (tests, demo, your own tests).

>>> from airflow_querystatus.emulator import EmulatorServer
>>> with EmulatorServer() as server:                                   # doctest: +SKIP
...     server.emulator.add_query("athena_calculation_execution", steps=[("RUNNING", 2), "COMPLETED"])
...     # point an aws connection's endpoint_url at server.url

docs/emulator.rst documents the control API, scripts and faults; the pytest fixtures are in
:mod:`.pytest_plugin`.
"""

from airflow_querystatus.emulator.errors import ControlError
from airflow_querystatus.emulator.model import KIND_ALIASES, KINDS, Emulator, Fault, Query, Step
from airflow_querystatus.emulator.server import EmulatorServer, ensure_loopback

__all__ = ["KINDS", "KIND_ALIASES", "ControlError", "Emulator", "EmulatorServer", "Fault", "Query", "Step",
           "ensure_loopback"]
