"""What a front door (the sensor, trigger and operator of one operation) derives from its spec.

A front door is a class with ``spec = SOME_SPEC``, a docstring and, for sensors and operators,
its signature. Everything else follows from the declaration, at import time, in one place:
the trigger class a sensor or operator defers to, the hook class of the service, the template
fields, and the checks that the signature and the docstring name every identifier and extra
argument the operation takes. A front door that contradicts its spec fails at import with a
message naming the class and the mistake, not at a user's first run.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from importlib import import_module
from typing import Any

from airflow_querystatus.status import SERVICES, RegistryError, StatusSpec

#: Trigger classes by spec key: each operation has exactly one, registered as its class is made.
_TRIGGERS: dict[str, type[Any]] = {}


def argument_names(spec: StatusSpec) -> tuple[str, ...]:
    """Every argument the operation's sensor and trigger take beyond the common ones."""
    return tuple(ident.name for ident in spec.identifiers) + tuple(extra.name for extra in spec.extras)


def templated_names(spec: StatusSpec) -> tuple[str, ...]:
    """The identifiers and the templated extras: rendered by Jinja in sensors and triggers."""
    return tuple(ident.name for ident in spec.identifiers) + tuple(e.name for e in spec.extras if e.templated)


def register_trigger(cls: type[Any], spec: StatusSpec) -> None:
    """Record ``cls`` as the operation's trigger; a second trigger for one spec is a mistake."""
    known = _TRIGGERS.get(spec.key)
    if known is not None and known is not cls:
        raise RegistryError(f"{cls.__qualname__}: {known.__qualname__} is already the trigger of {spec.key!r}.")
    _TRIGGERS[spec.key] = cls
    check_documented(cls, argument_names(spec))


def trigger_class_for(spec: StatusSpec) -> type[Any]:
    """The trigger class of an operation, importing its service's trigger module if need be."""
    if spec.key not in _TRIGGERS:
        import_module(f"airflow_querystatus.triggers.{SERVICES[spec.service].module}")
    try:
        return _TRIGGERS[spec.key]
    except KeyError:
        module = f"airflow_querystatus.triggers.{SERVICES[spec.service].module}"
        raise RegistryError(f"{spec.key!r} has no trigger: declare one with `spec = ...` in {module}.") from None


def hook_class_for(spec: StatusSpec) -> type[Any]:
    """The hook class of the operation's service, as ``status.SERVICES`` declares it."""
    declared = SERVICES[spec.service]
    hook: type[Any] = getattr(import_module(f"airflow_querystatus.hooks.{declared.module}"), declared.hook)
    return hook


def attach(cls: type[Any]) -> StatusSpec | None:
    """The spec a sensor or operator class declares in its own body (None for a base class),
    with the trigger class and hook class it implies set on the class."""
    spec: StatusSpec | None = cls.__dict__.get("spec")
    if spec is not None:
        cls.trigger_class = trigger_class_for(spec)
        cls.aws_hook_class = hook_class_for(spec)
    return spec


def check_signature(cls: type[Any], names: Iterable[str]) -> None:
    """The class's ``__init__`` (its own or a base's) takes every one of ``names`` by keyword:
    users pass them by name, and Airflow's ``.partial().expand()`` maps only over arguments
    an ``__init__`` in the class's chain names."""
    parameters = inspect.signature(cls.__init__).parameters
    missing = [name for name in names if name not in parameters]
    if missing:
        raise RegistryError(f"{cls.__qualname__}.__init__ does not name {missing}, which its spec declares.")


def check_documented(cls: type[Any], names: Iterable[str]) -> None:
    """Every argument of the operation has a ``:param name:`` line in the class's docstring."""
    doc = inspect.getdoc(cls) or ""
    missing = [name for name in names if f":param {name}:" not in doc]
    if missing:
        raise RegistryError(f"{cls.__qualname__}: the docstring documents no {missing} (add `:param name:` lines).")


def derive_signature(cls: type[Any], spec: StatusSpec) -> None:
    """A trigger declares no ``__init__``: its signature (``help()``, the docs) shows the
    operation's identifiers and extras as keyword arguments, before the wait's settings."""
    if "__init__" in cls.__dict__:
        return
    base = inspect.signature(cls.__init__)
    own = [inspect.Parameter(ident.name, inspect.Parameter.KEYWORD_ONLY, annotation="str")
           for ident in spec.identifiers]
    own += [inspect.Parameter(extra.name, inspect.Parameter.KEYWORD_ONLY, default=extra.default)
            for extra in spec.extras]
    rest = [p for name, p in base.parameters.items() if name not in {"self", *argument_names(spec)}]
    head = [p for p in rest if p.kind is not inspect.Parameter.VAR_KEYWORD]
    tail = [p for p in rest if p.kind is inspect.Parameter.VAR_KEYWORD]
    cls.__signature__ = base.replace(parameters=[*own, *head, *tail])
