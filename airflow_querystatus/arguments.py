"""Checks of the wait's arguments, made where they are written (the sensor's, operator's or
trigger's constructor), naming the task or trigger and the argument.

A value that one mode accepts and another cannot use is refused here, for every mode: a
botocore ``Config`` (usable by a worker's hook, not by a trigger, whose kwargs must be
JSON-safe) becomes a dict of the options the user set; a ``verify`` or a number that botocore
or ``timedelta`` would only choke on later, deep inside a poll or in the triggerer, fails at
once with the argument's name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from botocore.config import Config

#: Config options whose value botocore reads as a ``(certificate, key)`` tuple only: JSON
#: has no tuples, so a pair comes back from a trigger's kwargs as a list and is made a tuple
#: again (botocore silently ignores a list, and would connect without the client certificate).
_PAIR_OPTIONS = ("client_cert",)
_PAIR_SUBOPTIONS = {"proxies_config": ("proxy_client_cert",)}


class _Unset(dict):  # type: ignore[type-arg]
    """Marks the options of a probe ``Config`` that the user's config did not set. A dict, so
    that botocore's own checks of ``s3`` and ``retries`` accept it in the probe."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()


def _options_set(config: Config) -> dict[str, Any]:
    """The options a ``Config`` was given, through its public interface only.

    ``Config.merge`` takes exactly the options the other config was given; merged onto a probe
    that sets every option to a marker, those are the ones that no longer hold the marker.
    Options left at botocore's defaults are therefore told apart from options given the default
    value explicitly (which still win over the pool's own defaults when configs are merged).
    """
    probe = Config(**dict.fromkeys(Config.OPTION_DEFAULTS, _UNSET)).merge(config)
    return {name: getattr(probe, name) for name in Config.OPTION_DEFAULTS if getattr(probe, name) is not _UNSET}


def botocore_config_dict(value: object, *, owner: str, name: str = "botocore_config") -> dict[str, Any] | None:
    """``botocore_config`` as the JSON-safe dict a trigger can carry (None stays None).

    Accepts a dict of ``botocore.config.Config`` keyword arguments or a ``Config``; anything
    else, an option ``Config`` does not know, a value botocore refuses (a retry mode, an S3
    addressing style) or a value JSON cannot hold is refused naming ``owner`` and ``name``.
    """
    if value is None:
        return None
    if isinstance(value, Config):
        options = _options_set(value)
    elif isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        options = dict(value)
    else:
        raise ValueError(
            f"{owner}: `{name}` must be a dict of botocore.config.Config arguments or a Config, got "
            f"{type(value).__name__} {value!r}."
        )
    try:
        safe: dict[str, Any] = json.loads(json.dumps(options, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{owner}: `{name}` must hold only JSON values (strings, finite numbers, booleans, lists "
            f"and dicts) so that a trigger can carry it: {err}."
        ) from None
    botocore_config(safe, owner=owner, name=name)  # botocore's own checks, now
    return safe


def botocore_config(options: Mapping[str, Any] | Config | None, *, owner: str = "botocore_config",
                    name: str = "botocore_config") -> Config | None:
    """The ``Config`` for a dict made by :func:`botocore_config_dict` (a ``Config`` as it is)."""
    if options is None or isinstance(options, Config):
        return options
    kwargs = dict(options)
    for option in _PAIR_OPTIONS:
        if isinstance(kwargs.get(option), list):
            kwargs[option] = tuple(kwargs[option])
    for option, suboptions in _PAIR_SUBOPTIONS.items():
        nested = kwargs.get(option)
        if isinstance(nested, Mapping):
            kwargs[option] = {k: tuple(v) if k in suboptions and isinstance(v, list) else v
                              for k, v in nested.items()}
    try:
        return Config(**kwargs)
    except Exception as err:  # TypeError for an unknown option; botocore's own errors otherwise
        raise ValueError(f"{owner}: `{name}` is not a valid botocore Config: {err}") from None


def checked_verify(value: object, *, owner: str) -> bool | str | None:
    """``verify``: True/False, None (botocore's default), or the path of a CA bundle."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        return value
    raise ValueError(
        f"{owner}: `verify` must be True, False, None or the path of a CA bundle file, got "
        f"{type(value).__name__} {value!r}."
    )


def checked_name(argument: str, value: object, *, owner: str, what: str) -> str | None:
    """A name such as ``aws_conn_id`` or ``region_name``: a string (or a template), or None.
    An empty string is the amazon provider's other spelling of None, and is kept as it is."""
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{owner}: `{argument}` must be {what} or None, got {type(value).__name__} {value!r}.")


def finite_number(argument: str, value: object, *, owner: str, minimum: float = 0.0, inclusive: bool = False,
                  unit: str = "seconds") -> float:
    """A real, finite number above ``minimum`` (or equal to it, with ``inclusive``)."""
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
          and (value >= minimum if inclusive else value > minimum))
    if not ok:
        bound = f"at least {minimum:g}" if inclusive else ("positive" if minimum == 0 else f"above {minimum:g}")
        raise ValueError(
            f"{owner}: `{argument}` must be a finite number of {unit}, {bound}, got {type(value).__name__} {value!r}."
        )
    return float(value)  # type: ignore[arg-type]  # checked above


def duration_seconds(argument: str, value: object, *, owner: str) -> float:
    """A positive, finite duration given as seconds (int or float) or as a ``timedelta``."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        if seconds > 0:
            return seconds
        raise ValueError(f"{owner}: `{argument}` must be a positive duration, got {value!r}.")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    raise ValueError(
        f"{owner}: `{argument}` must be a positive, finite number of seconds or a datetime.timedelta, got "
        f"{type(value).__name__} {value!r}."
    )


def positive_int(argument: str, value: object, *, owner: str) -> int:
    """A positive integer (not a bool, not a float)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise ValueError(f"{owner}: `{argument}` must be a positive integer, got {type(value).__name__} {value!r}.")
