"""Write one reStructuredText page per registered operation, from the registry and the classes.

Run by ``docs/conf.py`` on every build (``make docs``), and by ``tests/test_docs.py`` into a
temporary directory. Nothing on an operation page is typed by hand: the classes come from
each service's modules, the arguments from ``inspect.signature`` along each class's MRO plus
what the bases take out of ``**kwargs`` (the wait settings of
:class:`~airflow_querystatus.wait.WaitContract` and the spec's extras), "templated" from the
class's ``template_fields``, the states, IAM actions and API page from the
:class:`~airflow_querystatus.status.StatusSpec`, the advice texts from
:func:`airflow_querystatus.errors.advice`, and what the sensor, operator and trigger return
from a run of each against the emulator during the build (``docs/returns.py``).

    python docs/generate.py OUT_DIR
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from returns import Returns, run_all

from airflow_querystatus import exceptions
from airflow_querystatus.emulator.catalogue import CATALOGUE, emulated_specs
from airflow_querystatus.emulator.examples import EXAMPLES
from airflow_querystatus.errors import ClassifiedError, ErrorKind, advice
from airflow_querystatus.outcomes import EVENT_STATUSES
from airflow_querystatus.status import SERVICES, SPECS, StatusSpec
from airflow_querystatus.wait import TASK_FIELDS, WaitContract

ROOT = Path(__file__).resolve().parent.parent
#: Where the classes' own arguments stop: Airflow's BaseOperator and BaseTrigger arguments
#: (task_id, retries, ...) are Airflow's, documented by Airflow.
STOP_AT = {"BaseOperator", "BaseTrigger", "LoggingMixin", "object"}
#: Constructor parameters that are not user arguments: ``identifiers``/``wait`` are the bases'
#: internal forms of the named identifiers and wait settings; ``region`` is the amazon base
#: classes' deprecated alias of ``region_name``.
HIDDEN = {"self", "identifiers", "wait", "region"}
#: The wait contract's fields a sensor or operator sets itself (not constructor arguments).
CONTRACT_INTERNAL = {"deadline", "stop_on_kill", "end_task_on_success"}


@dataclass(frozen=True)
class Argument:
    name: str
    type: str
    default: str  # "required" or the rendered default
    templated: bool | None  # None: not applicable (triggers have no template fields)
    defined_by: str  # the class (or contract) the argument comes from
    description: str = ""


@dataclass(frozen=True)
class OperationClasses:
    sensor: type
    trigger: type
    operator: type


def page_name(spec: StatusSpec) -> str:
    return f"operation_{spec.key}"


def classes_for(spec: StatusSpec) -> OperationClasses:
    """The sensor, trigger and operator whose ``spec`` is this one, from the service's modules."""
    module = SERVICES[spec.service].module
    found: dict[str, type] = {}
    for kind in ("sensors", "triggers", "operators"):
        mod = importlib.import_module(f"airflow_querystatus.{kind}.{module}")
        matches = [obj for _, obj in inspect.getmembers(mod, inspect.isclass)
                   if obj.__module__ == mod.__name__ and obj.__dict__.get("spec") is spec]
        if len(matches) != 1:
            raise LookupError(f"{spec.key}: expected one class with this spec in {mod.__name__}, found {matches}")
        found[kind] = matches[0]
    return OperationClasses(found["sensors"], found["triggers"], found["operators"])


# -- docstrings ------------------------------------------------------------------------------
_PARAM = re.compile(r":param (\w+):(.*?)(?=\n\s*:\w|\n\s*\n|\Z)", re.S)


def param_docs(cls: type) -> dict[str, str]:
    """``:param x:`` texts along the MRO (the most derived wins), without "(templated)"."""
    docs: dict[str, str] = {}
    for klass in [*cls.__mro__, WaitContract]:
        for name, text in _PARAM.findall(inspect.getdoc(klass) or ""):
            text = " ".join(text.split()).replace("(templated)", "").strip()
            docs.setdefault(name, text)
    return docs


#: Sensor defaults that QueryStatusSensor changes from BaseSensorOperator's (it sets them from the
#: wait settings unless given); tests/test_docs.py checks them on a real sensor.
SENSOR_EFFECTIVE_DEFAULTS = {
    "poke_interval": "``poll_interval``",
    "exponential_backoff": "``True`` if ``max_poll_interval`` > ``poll_interval``",
    "max_wait": "``max_poll_interval``",
    "timeout": "``None``: ``[sensors] default_timeout``",
}


def _render_default(name: str, value: Any) -> str:
    if name == "deferrable":  # evaluated from the config at import; say where it comes from
        return "``[operators] default_deferrable``"
    if value is inspect.Parameter.empty:
        return "required"
    return f"``{value!r}``"


def _annotation(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    return text.replace("datetime.datetime", "datetime")


def arguments(cls: type, spec: StatusSpec, kind: str) -> list[Argument]:
    """Every argument a user can pass to ``cls`` (kind: sensor, trigger or operator)."""
    templated = set(getattr(cls, "template_fields", ()) or ())
    docs = param_docs(cls)
    out: dict[str, Argument] = {}

    def add(name: str, type_: str, default: str, owner: str) -> None:
        if name in out or name in HIDDEN:
            return
        out[name] = Argument(name, type_, default, (name in templated) if kind != "trigger" else None, owner,
                             docs.get(name, ""))

    contract = {f.name: f for f in dataclasses.fields(WaitContract)}
    for klass in cls.__mro__:
        if klass.__name__ in STOP_AT:
            break
        if "__init__" not in klass.__dict__:
            continue
        for param in inspect.signature(klass.__init__).parameters.values():
            if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                continue
            default = _render_default(param.name, param.default)
            if kind == "sensor" and param.name in SENSOR_EFFECTIVE_DEFAULTS:
                default = SENSOR_EFFECTIVE_DEFAULTS[param.name]
            add(param.name, _annotation(param.annotation), default, klass.__name__)
        if klass.__name__ in ("QueryStatusSensor", "QueryOperator", "QueryStatusTrigger"):
            # What the base takes out of **kwargs: the identifiers, the extras, the wait settings.
            if kind != "operator":  # an operator gets its identifiers from its start call
                for ident in spec.identifiers:
                    add(ident.name, "str", "required", klass.__name__)
            for extra in spec.extras:
                add(extra.name, "", _render_default(extra.name, extra.default), f"{klass.__name__} ({spec.key})")
            names = contract if kind == "trigger" else TASK_FIELDS
            for name in names:
                if name == "extras":
                    continue
                f = contract[name]
                add(name, str(f.type), _render_default(name, f.default), "WaitContract")
    return list(out.values())


# -- errors ----------------------------------------------------------------------------------
#: One representative error code per advice branch of :func:`airflow_querystatus.errors.advice`.
CALLER_ERRORS = (
    ("AccessDeniedException", ErrorKind.CALLER, "access denied"),
    ("UnrecognizedClientException", ErrorKind.REJECTED_CREDENTIALS,
     "keys refused: rotated, deactivated or mistyped (after one client rebuild)"),
    ("ExpiredTokenException", ErrorKind.REJECTED_CREDENTIALS, "credentials expired (after one client rebuild)"),
    ("AnswerTooLarge", ErrorKind.CALLER, "a status answer over ``max_answer_bytes``"),
    ("NoCredentialsError", ErrorKind.CALLER, "no credentials"),
    ("SSLError", ErrorKind.CALLER, "TLS failure or missing CA bundle"),
    ("NoRegionError", ErrorKind.CALLER, "no region"),
    ("ValidationException", ErrorKind.CALLER, "anything else (unknown id, validation)"),
)


def _rst_code(text: str) -> str:
    """Markdown-style `code` in the package's messages as reStructuredText ``code``."""
    return re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", text)


def _exception_doc(exc: type) -> str:
    return " ".join((inspect.getdoc(exc) or "").split())


# -- rst -------------------------------------------------------------------------------------
def _table(header: list[str], rows: list[list[str]], widths: str | None = None) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {widths}")
    lines.append("")
    for row in [header, *rows]:
        for i, cell in enumerate(row):
            lines.append(f"   {'* -' if i == 0 else '  -'} {cell or ' '}")
    return [*lines, ""]


def _heading(text: str, char: str) -> list[str]:
    return [text, char * len(text), ""]


def _argument_table(args: list[Argument], *, trigger: bool) -> list[str]:
    header = ["argument", "type", "default", *([] if trigger else ["templated"]), "from", "description"]
    rows = []
    for a in args:
        type_ = f"``{a.type}``" if a.type else ""
        row = [f"``{a.name}``", type_, a.default]
        if not trigger:
            row.append("yes" if a.templated else "no")
        rows.append([*row, f"``{a.defined_by}``", a.description])
    return _table(header, rows, "20 11 13 9 14 33" if not trigger else "21 13 12 14 40")


def _camel(operation: str) -> str:
    return "".join(part.title() for part in operation.split("_"))


def render(spec: StatusSpec, returned: Returns | None = None) -> str:
    """The operation's page; ``returned``: what a run of its tasks returned (:mod:`returns`)."""
    classes = classes_for(spec)
    service = SERVICES[spec.service]
    op = _camel(spec.operation)
    lines = [f".. This page is generated by docs/generate.py from the registry ({spec.key}); do not edit.", ""]
    lines += _heading(spec.title, "=")
    lines += [
        f"Waits on **{service.integration}** ``{op}`` (boto3 ``{spec.service}.{spec.operation}``; "
        f"AWS API reference: `{op} <{spec.doc_url}>`__).",
        "",
    ]
    rows = [
        ["sensor", f"``{classes.sensor.__module__}.{classes.sensor.__name__}``"],
        ["trigger", f"``{classes.trigger.__module__}.{classes.trigger.__name__}``"],
        ["operator", f"``{classes.operator.__module__}.{classes.operator.__name__}``"],
        ["hook", f"``airflow_querystatus.hooks.{service.module}.{service.hook}``"],
        ["metrics prefix", f"``querystatus.{spec.key}``"],
    ]
    lines += _table(["role", "class"], rows, "20 80")

    lines += _heading("States", "-")
    lines += [f"What the task does with each state ``{op}`` returns (``StatusSpec.{{pending,success,failure}}"
              "_states``); a state not listed is logged once and waited on until a known one or the timeout.", ""]
    state_rows = (
        [[f"``{s}``", "wait", "keeps polling"] for s in sorted(spec.pending_states)]
        + [[f"``{s}``", "succeed", "sensor: returns the status answer; operator: fetches and returns the results "
            "(`What the tasks return (XCom)`_)"]
           for s in sorted(spec.success_states)]
        + [[f"``{s}``", "fail", "sensor: ``QueryFailedError`` (no retry; ``soft_fail`` skips); operator: "
            "``QueryExecutionFailedError`` (retries start a new query)"] for s in sorted(spec.failure_states)]
    )
    lines += _table(["state", "outcome", "task"], state_rows, "20 15 65")
    vanish = spec.vanishes
    if vanish is not None:
        lines += [
            f".. note:: {vanish.reporter} lists only running queries. An id that answers "
            f"{', '.join(f'``{c}``' for c in sorted(vanish.codes))} after it was seen running has finished "
            f"(state ``{vanish.state}``; {vanish.reporter} does not report how it ended). An id never seen "
            "running is taken as finished too, with a warning, unless ``fail_on_unknown_query_id=True``.",
            "",
        ]
    ids = ", ".join(f"``{i.name}`` (API ``{i.api_name}``"
                    + (f", at most {i.max_length} characters" if i.max_length else "")
                    + (f", pattern ``{i.pattern}``" if i.pattern else "") + ")" for i in spec.identifiers)
    lines += [f"Identifiers, checked before any AWS call: {ids}.", ""]

    lines += _heading("IAM", "-")
    lines += ["The IAM actions each call needs (``StatusSpec.iam_actions_of``): the sensor and trigger make only "
              "the status call; the operator makes every call below.", ""]
    calls = (("status", spec.operation, "sensor, trigger, operator"), ("start", spec.start_operation, "operator"),
             ("results", spec.results_operation, "operator"), ("list", spec.list_operation, "operator"),
             ("stop", spec.stop_operation, "operator"))
    lines += _table(["call", "boto3 method", "IAM action", "made by"],
                    [[what, f"``{name}``", " or ".join(f"``{a}``" for a in spec.iam_actions_of(name)), who]
                     for what, name, who in calls if name], "12 38 32 18")
    lines += [f"A caller error names the action of the call that was refused; an ``AccessDenied`` on the status "
              f"call names ``{spec.iam_action}``.", ""]
    if len(spec.iam_actions_of(str(spec.start_operation))) > 1:
        lines += ["The start call needs the data action of what the query does: reading, writing or deleting.", ""]

    for kind, cls in (("Sensor", classes.sensor), ("Trigger", classes.trigger), ("Operator", classes.operator)):
        lines += _heading(f"{kind}: {cls.__name__}", "-")
        for paragraph in (inspect.getdoc(cls) or "").split("\n\n"):  # the prose, not the :param: fields
            if not paragraph.lstrip().startswith((":", "Other arguments")):
                lines += [" ".join(paragraph.split()), ""]
        if kind == "Trigger":
            lines += ["Built by the sensor and operator (``wait=`` contract); these are the kwargs it is "
                      "serialized with and rebuilt from.", ""]
        if kind == "Sensor":
            lines += ["Also takes every Airflow ``BaseOperator`` argument (``task_id``, ``retries``, ...).", ""]
        if kind == "Operator":
            lines += ["Also takes every Airflow ``BaseOperator`` argument (``task_id``, ``retries``, "
                      "``execution_timeout``, ...).", ""]
        lines += _argument_table(arguments(cls, spec, kind.lower()), trigger=kind == "Trigger")

    if returned is not None:
        lines += _returns_section(spec, classes, returned)

    lines += _heading("Errors you can meet", "-")
    raised_by = ((exceptions.QueryFailedError, "sensor"), (exceptions.QueryCallerError, "sensor, operator"),
                 (exceptions.QueryArgumentError, "operator"),
                 (exceptions.QueryStatusUnavailableError, "sensor, operator"),
                 (exceptions.QueryStartUncertainError, "operator"),
                 (exceptions.QueryExecutionFailedError, "operator"),
                 (exceptions.QueryWaitTimeoutError, "operator"))
    exc_rows = [[f"``{e.__name__}``", who, "no" if issubclass(e, exceptions.AirflowFailException) else "yes",
                 _exception_doc(e)] for e, who in raised_by]
    exc_rows += [
        ["``AirflowSensorTimeout``", "sensor", "no", "The sensor's ``timeout`` passed (``soft_fail=True`` skips)."],
    ]
    lines += _table(["exception", "raised by", "retried", "when"], exc_rows, "28 14 9 49")
    lines += ["A caller error (``QueryCallerError``, from a sensor's status call or any call an operator makes) "
              "says what to check, from ``airflow_querystatus.errors.advice`` (shown for "
              "``aws_conn_id='aws_default'``):", ""]
    advice_rows = []
    for code, kind_, what in CALLER_ERRORS:
        text = advice(ClassifiedError(kind_, code, "..."), iam_action=spec.iam_action, aws_conn_id="aws_default")
        advice_rows.append([f"``{code}``", what, _rst_code(text)])
    lines += _table(["error", "case", "advice"], advice_rows, "25 25 50")
    if vanish is not None:
        hint = _rst_code(vanish.unknown_hint)
        lines += [f"With ``fail_on_unknown_query_id=True`` an unknown id fails with: \"{hint}\".", ""]

    lines += _heading("Example DAG", "-")
    if spec.key in EXAMPLES:
        paths = sorted({_dag_file(dag_id) for dag_id in EXAMPLES[spec.key].dags})
        for path in paths:
            lines += [f"``{path.relative_to(ROOT)}`` (``make demo`` runs it):", "",
                      f".. literalinclude:: /../{path.relative_to(ROOT)}", "   :language: python", ""]
    return "\n".join(lines) + "\n"


def _json_block(value: Any) -> list[str]:
    return [".. code-block:: json", "", *("   " + line for line in json.dumps(value, indent=2).splitlines()), ""]


def _returns_section(spec: StatusSpec, classes: OperationClasses, returned: Returns) -> list[str]:
    """What the sensor, the operator and their trigger returned in a real run (:mod:`returns`)."""
    lines = _heading("What the tasks return (XCom)", "-")
    lines += ["What a run of these classes against the emulator returned when this page was built "
              "(``docs/returns.py``): the sensor's and the operator's XCom (``return_value``), and the event "
              "their trigger fires, which ``execute_complete`` turns into that XCom. Ids, times and counts "
              "differ per query; AWS may answer optional members of botocore's model that the emulator "
              "leaves out.", ""]
    if spec.omitted_members:
        members = ", ".join(f"``{m}``" for m in sorted(spec.omitted_members))
        lines += [f"The status answer's {members} (``StatusSpec.omitted_members``) is left out of the sensor's "
                  "XCom and the event, however big the answer; the operator reads it with its results calls.", ""]
    lines += [f"``{classes.sensor.__name__}`` returns:", "", *_json_block(returned.sensor)]
    lines += [f"``{classes.operator.__name__}`` returns:", "", *_json_block(returned.operator)]
    lines += [f"``{classes.trigger.__name__}`` fires (``TriggerEvent.payload``; ``status`` is one of "
              f"{', '.join(f'``{s}``' for s in sorted(EVENT_STATUSES))}):", "", *_json_block(returned.event)]
    return lines


def _dag_file(dag_id: str) -> Path:
    for path in sorted((ROOT / "dags").glob("*.py")):
        if re.search(rf"""["']{re.escape(dag_id)}["']""", path.read_text()):
            return path
    raise LookupError(f"no file in dags/ declares the DAG {dag_id!r}")


def _script(steps: tuple[Any, ...]) -> str:
    return "``" + json.dumps([list(s) if isinstance(s, tuple) else s for s in steps]) + "``"


def emulator_kinds() -> str:
    """The emulator's kinds (docs/emulator.rst includes it): what each needs and plays."""
    lines = [".. Generated by docs/generate.py from the registry; do not edit.", ""]
    rows = []
    for spec in emulated_specs():
        behaviour = CATALOGUE[spec.key]
        *scope, own = spec.identifiers
        rows.append([
            f"``{spec.key}``",
            ", ".join(f"``{a}``" for a in behaviour.aliases),
            ", ".join(f"``{i.name}``" for i in scope) or "none",
            f"``{own.name}``",
            ", ".join(f"``{s}``" for s in sorted(spec.pending_states)),
            ", ".join(f"``{s}``" for s in sorted(spec.success_states | spec.failure_states)),
            _script(behaviour.steps),
            _script(behaviour.stopped),
        ])
    lines += _table(["kind", "former name", "identifiers", "query id is the", "pending states",
                     "final states", "default script", "after a stop"], rows, "18 12 10 10 12 12 14 12")
    return "\n".join(lines) + "\n"


def generate(out_dir: Path) -> list[Path]:
    """Write every operation page and an index of them into ``out_dir``; return the pages."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = []
    returned = run_all({key: (classes_for(spec).sensor, classes_for(spec).operator) for key, spec in SPECS.items()})
    for spec in SPECS.values():
        path = out_dir / f"{page_name(spec)}.rst"
        path.write_text(render(spec, returned.get(spec.key)))
        pages.append(path)
    index = [".. Generated by docs/generate.py; do not edit.", "", *_heading("Operations", "="),
             "One page per operation in the registry (``airflow_querystatus/status.py``).", "",
             ".. toctree::", "   :maxdepth: 1", ""]
    index += [f"   {page_name(spec)}" for spec in SPECS.values()]
    (out_dir / "operations.rst").write_text("\n".join(index) + "\n")
    (out_dir / "emulator_kinds.rst").write_text(emulator_kinds())
    return pages


if __name__ == "__main__":
    for page in generate(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "_generated")):
        print(page)
