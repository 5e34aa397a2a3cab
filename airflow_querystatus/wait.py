"""The wait contract: everything one wait needs besides the query's identifiers, as one value.

A sensor or operator builds a :class:`WaitContract` once (:meth:`WaitSettings.wait_contract`),
hands it to its trigger, which serializes it with :meth:`WaitContract.to_kwargs` and is rebuilt
from those kwargs with :meth:`WaitContract.from_kwargs`. No trigger reads a task's attributes.

Adding a wait argument is one field here (``task=True`` if sensors and operators take it as
a constructor argument) plus its test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from airflow_querystatus.arguments import botocore_config_dict, checked_name, checked_verify, finite_number
from airflow_querystatus.polling import (
    DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TRANSIENT_ERROR_BUDGET,
    WaitOptions,
)
from airflow_querystatus.status import SPECS, StatusSpec

#: Older releases' triggers accepted every operation's extras: given to an operation that does
#: not declare them, their default values are ignored (rolling upgrades, rollbacks).
_LEGACY_OPTIONAL = {extra.name: extra.default for spec in SPECS.values() for extra in spec.extras}


def _task(default: Any) -> Any:
    """A field that sensors and operators take as a constructor argument."""
    return field(default=default, metadata={"task": True})


POLL_OVERRIDE_OPTION = "max_poll_interval_override"


def poll_interval_override() -> float | None:
    """``[querystatus] max_poll_interval_override``: when set, every wait polls at least this
    often whatever its DAG says, so that tests (the pytest plugin's ``querystatus_fast_polls``)
    run fast with the DAG's production intervals. Unset in production."""
    from airflow_querystatus.compat import conf

    value = conf.get("querystatus", POLL_OVERRIDE_OPTION, fallback="") or ""
    if not value.strip():
        return None
    try:
        number: object = float(value)
    except ValueError:
        number = value  # refused below, with the value quoted
    return finite_number(POLL_OVERRIDE_OPTION, number, owner="[querystatus]", unit="seconds")


@dataclass(frozen=True)
class WaitContract:
    """Connection, polling and deadline settings of one wait, plus the operation's extras.

    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region; the connection's if not given.
    :param verify: Whether to verify TLS certificates, or a CA bundle path.
    :param botocore_config: Keyword arguments for ``botocore.config.Config`` (a ``Config`` is
        accepted and turned into them, so that the trigger's kwargs stay JSON-safe).
    :param poll_interval: Seconds before the second poll (the first is immediate); each later
        interval is 1.5x longer, jittered, up to ``max_poll_interval``.
    :param max_poll_interval: The ceiling of the adaptive interval, in seconds.
    :param transient_error_budget: Seconds of unbroken throttling or transient errors
        tolerated before the wait ends with a retryable error.
    :param deadline: UNIX timestamp after which the wait ends with ``timeout``. Absolute, so
        that a trigger rebuilt after a triggerer restart keeps the original deadline.
    :param stop_on_kill: Stop the remote query if the deferred task is killed (operators own
        the query they started; sensors leave other people's queries be).
    :param end_task_on_success: On success, end the task from the triggerer.
    :param extras: The arguments only this operation takes, as its spec declares them
        (:attr:`~airflow_querystatus.status.StatusSpec.extras`).
    """

    aws_conn_id: str | None = "aws_default"
    region_name: str | None = None
    verify: bool | str | None = None
    botocore_config: dict[str, Any] | None = None
    poll_interval: float = _task(DEFAULT_POLL_INTERVAL)
    max_poll_interval: float = _task(DEFAULT_MAX_POLL_INTERVAL)
    transient_error_budget: float = _task(DEFAULT_TRANSIENT_ERROR_BUDGET)
    deadline: float | None = None
    stop_on_kill: bool = False
    end_task_on_success: bool = False
    extras: Mapping[str, Any] = field(default_factory=dict)

    def checked(self, owner: str) -> WaitContract:
        """Validate, naming ``owner`` (the task or trigger) in any complaint; the result holds
        ``botocore_config`` as a JSON-safe dict (a ``Config`` is turned into one)."""
        self.options_for(owner)
        deadline = self.deadline
        if deadline is not None:
            finite_number("deadline", deadline, owner=owner, unit="seconds since the epoch (a UNIX timestamp)")
        connection = self.checked_connection(owner)
        return self if connection == self.connection_settings() else self.replace(**connection)

    def connection_settings(self) -> dict[str, Any]:
        return {"aws_conn_id": self.aws_conn_id, "region_name": self.region_name, "verify": self.verify,
                "botocore_config": self.botocore_config}

    def checked_connection(self, owner: str) -> dict[str, Any]:
        """The connection arguments, validated (:mod:`airflow_querystatus.arguments`)."""
        return {
            "aws_conn_id": checked_name("aws_conn_id", self.aws_conn_id, owner=owner, what="an Airflow connection id"),
            "region_name": checked_name("region_name", self.region_name, owner=owner, what="an AWS region name"),
            "verify": checked_verify(self.verify, owner=owner),
            "botocore_config": botocore_config_dict(self.botocore_config, owner=owner),
        }

    def options_for(self, owner: str) -> WaitOptions:
        """The polling options, validated; both intervals at most ``[querystatus]
        max_poll_interval_override`` when that is set (tests: see :func:`poll_interval_override`)."""
        options = WaitOptions.checked(
            owner,
            poll_interval=self.poll_interval,
            max_poll_interval=self.max_poll_interval,
            transient_error_budget=self.transient_error_budget,
        )
        override = poll_interval_override()
        if override is None:
            return options
        return dataclasses.replace(options, poll_interval=min(options.poll_interval, override),
                                   max_poll_interval=min(options.max_poll_interval, override))

    @property
    def options(self) -> WaitOptions:
        return self.options_for(type(self).__name__)

    # -- the one serialization ---------------------------------------------------------------
    def to_kwargs(self) -> dict[str, Any]:
        """Flat, JSON-safe kwargs, as a trigger's ``serialize()`` writes them."""
        kwargs = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extras"}
        return {**kwargs, **self.extras}

    @classmethod
    def from_kwargs(cls, spec: StatusSpec, kwargs: Mapping[str, Any], *, owner: str) -> WaitContract:
        """Rebuild from :meth:`to_kwargs` output (any release's): the inverse of serialization."""
        own = {f.name for f in fields(cls)} - {"extras"}
        declared = {extra.name: extra.default for extra in spec.extras}
        unknown = [
            name for name, value in kwargs.items()
            if name not in own and name not in declared and _LEGACY_OPTIONAL.get(name, object()) != value
        ]
        if unknown:
            raise TypeError(f"{owner}: unexpected argument(s) {', '.join(sorted(unknown))}.")
        extras = {name: kwargs.get(name, default) for name, default in declared.items()}
        return cls(**{k: v for k, v in kwargs.items() if k in own}, extras=extras).checked(owner)

    def replace(self, **changes: Any) -> WaitContract:
        return dataclasses.replace(self, **changes)


#: The constructor arguments of sensors and operators that go into the contract as they are.
TASK_FIELDS = tuple(f.name for f in fields(WaitContract) if f.metadata.get("task"))


class WaitSettings:
    """Mixin for sensors and operators: take the wait arguments, build the contract.

    The connection arguments are the amazon base classes' own (``aws_conn_id``, ...); the
    polling arguments are :data:`TASK_FIELDS`; the operation's extras are its spec's.
    """

    spec: ClassVar[StatusSpec]
    aws_conn_id: str | None
    region_name: str | None
    verify: bool | str | None
    botocore_config: dict[str, Any] | None

    @staticmethod
    def take_wait_settings(kwargs: dict[str, Any], owner: str) -> WaitContract:
        """Pop the polling arguments out of ``kwargs`` and validate them."""
        settings = WaitContract(**{name: kwargs.pop(name) for name in TASK_FIELDS if name in kwargs})
        settings.options_for(owner)
        return settings

    def keep_wait_settings(self, settings: WaitContract, extras: Mapping[str, Any], owner: str) -> None:
        """Keep the settings as attributes (templated extras are rendered in place), and check the
        connection arguments the amazon base class took: the same checks as the trigger's, made
        here so that a value no mode could use fails at parse time in every mode."""
        connection = WaitContract(
            aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify,
            botocore_config=self.botocore_config,
        ).checked_connection(owner)
        for name, value in connection.items():
            setattr(self, name, value)
        self.wait_settings = settings
        for name in TASK_FIELDS:
            setattr(self, name, getattr(settings, name))
        for name, value in extras.items():
            setattr(self, name, value)

    def extras(self) -> dict[str, Any]:
        """The operation's extras, current (rendered) values."""
        return {extra.name: getattr(self, extra.name) for extra in self.spec.extras}

    def wait_contract(self, *, deadline: float | None, **flags: Any) -> WaitContract:
        """The contract to hand to the trigger."""
        return WaitContract(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            botocore_config=self.botocore_config,
            **{name: getattr(self, name) for name in TASK_FIELDS},
            deadline=deadline,
            extras=self.extras(),
            **flags,
        )

    def wait_options(self) -> WaitOptions:
        return self.wait_contract(deadline=None).options_for(f"Task {getattr(self, 'task_id', '?')!r}")

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        params: dict[str, Any] = super()._hook_parameters  # type: ignore[misc]
        connection = {e.name: getattr(self, e.name) for e in self.spec.extras if e.connection}
        return {**params, **connection}
