"""Settings are checked where they are written, and mean the same in every mode (issue 20, item 5).

Each valid setting gives the same result in poke, reschedule and deferrable mode; each invalid
one fails when the sensor, operator or trigger is built, naming the task (or trigger) and the
argument, before any AWS call. An identifier that rendered from a missing XCom or param fails
before any AWS call too, saying so.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Any

import botocore.session
import certifi
import pytest
from botocore.config import Config

from airflow_querystatus.arguments import botocore_config, botocore_config_dict
from airflow_querystatus.clients import DEFAULT_MAX_POOL_CONNECTIONS, ClientKey, create_client_through_hook
from airflow_querystatus.hooks.internet_monitor import InternetMonitorHook
from airflow_querystatus.operators.internet_monitor import InternetMonitorQueryOperator
from airflow_querystatus.polling import Outcome
from airflow_querystatus.triggers.internet_monitor import InternetMonitorQueryTrigger
from tests.cases import CASES, MODES, mode_kwargs
from tests.harness import first_event, run_sensor

#: These tests poll through triggers: CI runs them with prepared status calls on and off.
pytestmark = pytest.mark.prepared_sensitive

CASE = next(c for c in CASES if c.kind == "internet_monitor_query")
NO_RETRIES = {"retries": {"total_max_attempts": 1}}

# -- valid settings: the same success in every mode -------------------------------------------
VALID: dict[str, dict[str, Any]] = {
    "botocore_config-dict": {"botocore_config": {**NO_RETRIES, "read_timeout": 7}},
    "botocore_config-Config": {"botocore_config": Config(retries={"total_max_attempts": 1}, read_timeout=7)},
    "botocore_config-None": {"botocore_config": None},
    "verify-False": {"verify": False},
    "verify-None": {"verify": None},
    "verify-ca-bundle-path": {"verify": certifi.where()},
    "integer-seconds": {"poll_interval": 1, "max_poll_interval": 1, "transient_error_budget": 60, "timeout": 30},
    "timeout-timedelta": {"timeout": datetime.timedelta(seconds=30)},
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("setting", VALID.values(), ids=VALID.keys())
def test_a_valid_setting_gives_the_same_success_in_every_mode(setting: dict[str, Any], mode: str, emulator) -> None:
    query = CASE.plant(emulator, [(CASE.pending, 1), CASE.success])
    run = run_sensor(CASE.sensor(query.query_id, **setting, **mode_kwargs(mode)))
    assert run.outcome == "success", run.error
    assert run.value == {"Status": "SUCCEEDED"}
    for trigger in run.triggers:  # what the triggerer stores is plain JSON
        json.dumps(trigger.serialize()[1], allow_nan=False)


def test_a_botocore_config_object_reaches_the_trigger_as_the_options_set() -> None:
    sensor = CASE.sensor("q", botocore_config=Config(read_timeout=7, max_pool_connections=10), deferrable=True)
    assert sensor.botocore_config == {"read_timeout": 7, "max_pool_connections": 10}
    kwargs = sensor.wait_contract(deadline=2e9).to_kwargs()
    assert kwargs["botocore_config"] == {"read_timeout": 7, "max_pool_connections": 10}
    trigger = InternetMonitorQueryTrigger(monitor_name="m", query_id="q", botocore_config=Config(read_timeout=3))
    assert trigger.serialize()[1]["botocore_config"] == {"read_timeout": 3}


# -- Config -> dict -> Config: the same client ------------------------------------------------
EVERY_KIND = Config(
    read_timeout=7,
    connect_timeout=3.5,
    max_pool_connections=10,  # botocore's own default, set explicitly: it must beat the pool's 50
    parameter_validation=True,  # the default value, set explicitly
    retries={"mode": "adaptive", "total_max_attempts": 2},
    client_cert=("/certs/client.pem", "/certs/client.key"),
    proxies={"https": "proxy.example:3128"},
    proxies_config={"proxy_client_cert": ("/certs/proxy.pem", "/certs/proxy.key"),
                    "proxy_use_forwarding_for_https": True},
    tcp_keepalive=True,
    user_agent_appid="pipeline-7",
    inject_host_prefix=False,
    s3={"addressing_style": "path"},
)


def _options(config: Config) -> dict[str, Any]:
    return {name: getattr(config, name) for name in Config.OPTION_DEFAULTS}


def _pool_config(config: Config | dict[str, Any] | None) -> Config:
    """What the pool's clients are built with: its defaults, then the user's (clients.py)."""
    return Config(max_pool_connections=DEFAULT_MAX_POOL_CONNECTIONS, retries={"mode": "standard"}).merge(
        InternetMonitorHook(aws_conn_id=None, config=config).config)


def test_config_to_dict_to_config_round_trips_to_the_same_client() -> None:
    options = botocore_config_dict(EVERY_KIND, owner="t")
    assert options is not None
    assert json.loads(json.dumps(options)) == options  # what a trigger's kwargs carry
    rebuilt = botocore_config(json.loads(json.dumps(options)))
    assert rebuilt is not None
    assert _options(rebuilt) == _options(EVERY_KIND)
    assert rebuilt.client_cert == ("/certs/client.pem", "/certs/client.key")  # a tuple, as botocore needs
    assert _options(_pool_config(options)) == _options(_pool_config(EVERY_KIND))
    assert _pool_config(options).max_pool_connections == 10
    # A client built with either is configured the same.
    session = botocore.session.get_session()
    made = [session.create_client("internetmonitor", region_name="us-east-1", config=config,
                                  aws_access_key_id="a", aws_secret_access_key="b") for config in (EVERY_KIND, rebuilt)]
    assert _options(made[0].meta.config) == _options(made[1].meta.config)


def test_an_unset_config_is_an_empty_dict_and_the_pool_defaults_apply() -> None:
    assert botocore_config_dict(Config(), owner="t") == {}
    assert _pool_config({}).max_pool_connections == DEFAULT_MAX_POOL_CONNECTIONS


@pytest.mark.parametrize("given", [{**NO_RETRIES, "read_timeout": 7},
                                   Config(retries={"total_max_attempts": 1}, read_timeout=7)],
                         ids=["dict", "Config"])
def test_the_triggers_client_gets_the_settings(given: Any, emulator) -> None:
    async def build() -> Any:
        key = InternetMonitorQueryTrigger(monitor_name="m", query_id="q", botocore_config=given).client_key()
        assert isinstance(key, ClientKey)
        client, close = await create_client_through_hook(key)
        try:
            return client.meta.config
        finally:
            await close()

    config = asyncio.run(build())
    assert config.read_timeout == 7 and config.retries["total_max_attempts"] == 1


# -- invalid settings: refused where they are written, in every mode ---------------------------
INF, NAN = float("inf"), float("nan")
#: (argument, value, who takes it: "s"ensor, "t"rigger, "o"perator)
INVALID: list[tuple[str, Any, str]] = [
    ("botocore_config", "retries", "sto"),
    ("botocore_config", ["x"], "sto"),
    ("botocore_config", 5, "sto"),
    ("botocore_config", {"retrys": {"mode": "standard"}}, "sto"),
    ("botocore_config", {"retries": {"mode": "fast"}}, "sto"),
    ("botocore_config", {"read_timeout": INF}, "sto"),
    ("botocore_config", {"proxies": {"https": object()}}, "sto"),
    ("verify", 123, "sto"),
    ("verify", ["x"], "sto"),
    ("verify", "", "sto"),
    ("verify", "   ", "sto"),
    ("region_name", 123, "sto"),
    ("aws_conn_id", 42, "sto"),
    ("poll_interval", INF, "sto"),
    ("poll_interval", NAN, "sto"),
    ("poll_interval", "5", "sto"),
    ("max_poll_interval", INF, "sto"),
    ("transient_error_budget", INF, "sto"),
    ("transient_error_budget", NAN, "sto"),
    ("timeout", INF, "s"),
    ("timeout", NAN, "s"),
    ("timeout", "5", "s"),
    ("deadline", INF, "t"),
    ("deadline", NAN, "t"),
    ("deadline", "tomorrow", "t"),
    ("wait_timeout", "5", "o"),
    ("wait_timeout", INF, "o"),
    ("wait_timeout", NAN, "o"),
    ("wait_timeout", 0, "o"),
    ("wait_timeout", True, "o"),
    ("wait_timeout", datetime.timedelta(0), "o"),
    ("max_xcom_bytes", True, "o"),
    ("max_xcom_bytes", 1.5, "o"),
    ("max_xcom_bytes", INF, "o"),
    ("max_xcom_bytes", 0, "o"),
]


def _ids(argument: str, value: Any) -> str:
    return f"{argument}={value!r}"[:50]


def _takers(who: str) -> list[tuple[str, Any, str]]:
    return [entry for entry in INVALID if who in entry[2]]


def _complaint(err: BaseException, owner: str, argument: str) -> None:
    message = str(err)
    assert owner in message, message
    assert f"`{argument}`" in message, message


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("argument", "value", "_who"), _takers("s"), ids=[_ids(a, v) for a, v, _ in _takers("s")])
def test_an_invalid_setting_fails_building_the_sensor_in_every_mode(argument: str, value: Any, _who: str,
                                                                    mode: str, emulator) -> None:
    calls = sum(emulator.requests.values())
    with pytest.raises(ValueError) as err:
        CASE.sensor("q", task_id="wait_here", **{argument: value}, **mode_kwargs(mode))
    _complaint(err.value, "task_id='wait_here'", argument)
    assert sum(emulator.requests.values()) == calls


@pytest.mark.parametrize(("argument", "value", "_who"), _takers("t"), ids=[_ids(a, v) for a, v, _ in _takers("t")])
def test_an_invalid_setting_fails_building_the_trigger(argument: str, value: Any, _who: str) -> None:
    with pytest.raises(ValueError) as err:
        InternetMonitorQueryTrigger(monitor_name="m", query_id="q", **{argument: value})
    _complaint(err.value, "InternetMonitorQueryTrigger", argument)


@pytest.mark.parametrize("deferrable", [False, True])
@pytest.mark.parametrize(("argument", "value", "_who"), _takers("o"), ids=[_ids(a, v) for a, v, _ in _takers("o")])
def test_an_invalid_setting_fails_building_the_operator(argument: str, value: Any, _who: str,
                                                        deferrable: bool) -> None:
    with pytest.raises(ValueError) as err:
        InternetMonitorQueryOperator(task_id="start_here", monitor_name="web", query_type="MEASUREMENTS",
                                     start_time="2026-11-01T00:00:00Z", end_time="2026-11-02T00:00:00Z",
                                     deferrable=deferrable, **{argument: value})
    _complaint(err.value, "task_id='start_here'", argument)


@pytest.mark.parametrize("deferrable", [False, True])
@pytest.mark.parametrize("wait_timeout", [30, 30.0, datetime.timedelta(seconds=30)], ids=["int", "float", "timedelta"])
def test_the_operator_takes_wait_timeout_as_seconds_or_timedelta(wait_timeout: Any, deferrable: bool,
                                                                 emulator) -> None:
    emulator.set_default_steps("internet_monitor", [("RUNNING", 1), "SUCCEEDED"])
    operator = InternetMonitorQueryOperator(
        task_id="im", monitor_name="web", query_type="MEASUREMENTS", start_time="2026-11-01T00:00:00Z",
        end_time="2026-11-02T00:00:00Z", poll_interval=0.05, max_poll_interval=0.05, wait_timeout=wait_timeout,
        deferrable=deferrable, botocore_config=Config(retries={"total_max_attempts": 1}))
    assert operator.wait_timeout == 30.0
    run = run_sensor(operator)
    assert run.outcome == "success", run.error
    for trigger in run.triggers:
        assert trigger.deadline - datetime.datetime.now().timestamp() < 31
        json.dumps(trigger.serialize()[1], allow_nan=False)


# -- identifiers that rendered from nothing ----------------------------------------------------
class _TaskInstance:
    """What a template sees as ``ti``: the upstream task pushed nothing."""

    def xcom_pull(self, *args: Any, **kwargs: Any) -> Any:
        return None


MISSING_TEMPLATES = {
    "missing-xcom": "{{ ti.xcom_pull(task_ids='start') }}",
    "missing-param": "{{ params.query_id }}",
    "missing-param-default-none": "{{ params.get('query_id', None) }}",
    "null": "null",
    "whitespace": "{{ params.query_id }}   ",
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("template", MISSING_TEMPLATES.values(), ids=MISSING_TEMPLATES.keys())
def test_an_identifier_rendered_from_a_missing_value_fails_before_any_call(template: str, mode: str,
                                                                           emulator) -> None:
    sensor = CASE.sensor("{{ 'placeholder' }}", task_id="wait_here", **mode_kwargs(mode))
    sensor.query_id = template
    sensor.render_template_fields({"ti": _TaskInstance(), "params": {}})
    assert sensor.query_id.strip() in {"", "None", "null"}
    calls = sum(emulator.requests.values())
    run = run_sensor(sensor)
    assert isinstance(run.error, ValueError), run.error
    assert "`query_id`" in str(run.error) and "'wait_here'" in str(run.error)
    assert "upstream XCom or param" in str(run.error) and "probably missing" in str(run.error)
    assert sum(emulator.requests.values()) == calls


@pytest.mark.parametrize("rendered", [None, "None", "null", "", "  \t"])
def test_the_trigger_refuses_an_identifier_rendered_from_a_missing_value(rendered: Any, emulator) -> None:
    """As rendered in the triggerer (start_from_trigger) or given directly."""
    with pytest.raises(ValueError, match=r"InternetMonitorQueryTrigger: `query_id`.*probably missing"):
        InternetMonitorQueryTrigger(monitor_name="m", query_id=rendered)
    trigger = InternetMonitorQueryTrigger(monitor_name="m", query_id="{{ ti.xcom_pull('start') }}", deadline=2e9)
    trigger.query_id = rendered  # what the triggerer's rendering assigns
    calls = sum(emulator.requests.values())
    event = asyncio.run(first_event(trigger, timeout=30))
    assert event.payload["status"] == Outcome.ERROR.value
    assert "`query_id`" in event.payload["message"] and "probably missing" in event.payload["message"]
    assert sum(emulator.requests.values()) == calls


def test_a_real_id_that_merely_contains_none_is_accepted() -> None:
    for value in ("None-1", "nullable", "none"):
        assert InternetMonitorQueryTrigger(monitor_name="m", query_id=value).identifiers["query_id"] == value



@pytest.mark.parametrize("deferrable", [False, True])
@pytest.mark.parametrize("template", MISSING_TEMPLATES.values(), ids=MISSING_TEMPLATES.keys())
def test_an_operators_scope_rendered_from_a_missing_value_fails_before_any_call(template: str, deferrable: bool,
                                                                                emulator) -> None:
    operator = InternetMonitorQueryOperator(
        task_id="start_here", monitor_name=template, query_type="MEASUREMENTS", start_time="2026-11-01T00:00:00Z",
        end_time="2026-11-02T00:00:00Z", deferrable=deferrable)
    operator.render_template_fields({"ti": _TaskInstance(), "params": {}})
    calls = sum(emulator.requests.values())
    run = run_sensor(operator)
    assert isinstance(run.error, ValueError), run.error
    assert "`monitor_name`" in str(run.error) and "'start_here'" in str(run.error)
    assert "probably missing" in str(run.error)
    assert sum(emulator.requests.values()) == calls
