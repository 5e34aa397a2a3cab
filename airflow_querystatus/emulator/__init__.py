"""A local emulator of the AWS query APIs this provider waits on (tests, demo, your own tests).

>>> from airflow_querystatus.emulator import EmulatorServer
>>> with EmulatorServer() as server:                                   # doctest: +SKIP
...     server.emulator.add_query("athena_calculation", steps=["RUNNING", "COMPLETED"])
...     # point an aws connection's endpoint_url at server.url
"""

from airflow_querystatus.emulator.model import KINDS, Emulator, Fault, Query, Step
from airflow_querystatus.emulator.server import EmulatorServer, ensure_loopback

__all__ = ["KINDS", "Emulator", "EmulatorServer", "Fault", "Query", "Step", "ensure_loopback"]
