"""CloudWatch Logs as the emulator plays it: log groups (with their events) and what StartQuery refuses.

AWS runs a Logs Insights query only over log groups that exist, only when it knows which
(``logGroupName``, ``logGroupNames``, ``logGroupIdentifiers``, or a ``SOURCE`` command in the
query), over a time range that ends after it starts, and only if the query compiles. The
emulator refuses the same starts with the same error codes (``ResourceNotFoundException``,
``InvalidParameterException``, ``MalformedQueryException``), so a DAG that starts against it
does not fail on its first start against AWS. It compiles no query: :func:`compile_error` finds
only what it is sure of (an empty query, a command Logs Insights does not have); every other
query is accepted. This module holds no wire protocol: :mod:`.json_1_1` answers the calls.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_querystatus.emulator.errors import ControlError

#: The commands of the Logs Insights query language (CloudWatch Logs User Guide, "CloudWatch
#: Logs Insights language query syntax"), compared without case.
COMMANDS = frozenset({
    "addtotals", "anomaly", "dedup", "diff", "display", "fields", "filter", "filterindex", "join", "limit",
    "lookup", "parse", "pattern", "sort", "source", "stats", "unmask", "unnest",
})
#: A ``/`` after one of these (or after ``parse <field>``) opens a regular expression, whose ``|``
#: is no command separator (``filter @message like /ERROR|WARN/``).
_REGEX_AFTER = ("like", "=~", "!~")
_BRACKETS = {"(": ")", "[": "]", "{": "}"}
#: The log stream the control API's events go to.
CONTROL_STREAM = "emulator"


@dataclass
class LogEvent:
    """One event: ``timestamp`` in milliseconds since the epoch (as PutLogEvents takes it)."""

    timestamp: int
    message: str
    stream: str = CONTROL_STREAM


@dataclass
class LogGroup:
    name: str
    created_at: float = field(default_factory=time.time)
    streams: set[str] = field(default_factory=lambda: {CONTROL_STREAM})
    events: list[LogEvent] = field(default_factory=list)


def group_name(identifier: str) -> str:
    """The log group a ``logGroupIdentifiers`` entry names: itself, or the name in its ARN
    (``arn:aws:logs:us-east-1:123456789012:log-group:/app/web``; the model's pattern refuses the
    ``:*`` ending, as AWS does). The emulator plays one account: an ARN of any account names the
    group of that name."""
    if identifier.startswith("arn:") and ":log-group:" in identifier:
        return identifier.split(":log-group:", 1)[1]
    return identifier


def requested_groups(body: Mapping[str, Any]) -> list[str]:
    """Every log group a StartQuery request names, by name, in the order given."""
    named: list[str] = []
    if isinstance(body.get("logGroupName"), str):
        named.append(body["logGroupName"])
    for member in ("logGroupNames", "logGroupIdentifiers"):
        named += [group_name(g) for g in body.get(member) or () if isinstance(g, str)]
    return named


def given_members(body: Mapping[str, Any]) -> list[str]:
    """The members of ``body`` that name log groups (AWS takes exactly one of them)."""
    return [m for m in ("logGroupName", "logGroupNames", "logGroupIdentifiers") if body.get(m)]


def _strip_comments(text: str) -> str:
    """``text`` without its ``#`` comments (to the end of a line, outside quotes)."""
    kept, quote = [], ""
    for line in text.splitlines():
        out = []
        for char in line:
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"`":
                quote = char
            elif char == "#":
                break
            out.append(char)
        kept.append("".join(out))
    return "\n".join(kept)


def commands(query: str) -> list[tuple[int, str]]:
    """The query's commands, split at the pipes outside quotes, brackets and regular
    expressions, each with its offset in ``query`` (comments blanked out, offsets kept)."""
    text = _strip_comments(query)
    found: list[tuple[int, str]] = []
    start, quote, regex, depth = 0, "", False, []
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif regex:
            regex = char != "/" or text[i - 1] == "\\"
        elif char in "'\"`":
            quote = char
        elif char == "/" and _opens_regex(text[start:i]):
            regex = True
        elif char in _BRACKETS:
            depth.append(_BRACKETS[char])
        elif depth and char == depth[-1]:
            depth.pop()
        elif char == "|" and not depth:
            found.append((start, text[start:i]))
            start = i + 1
    found.append((start, text[start:]))
    return found


def _opens_regex(before: str) -> bool:
    words = before.split()
    if not words:
        return False
    return words[-1].lower().endswith(_REGEX_AFTER) or (len(words) == 2 and words[0].lower() == "parse")


def compile_error(query: str) -> dict[str, Any] | None:
    """``MalformedQueryException``'s ``queryCompileError`` for what the emulator is sure Logs
    Insights cannot compile (an empty query or command, a command it does not have); None
    otherwise. The location is where the command is, in characters (``startCharOffset``,
    ``endCharOffset``)."""
    parts = commands(query)
    if all(not part.strip() for _, part in parts):
        return {"location": {"startCharOffset": 0, "endCharOffset": len(query)},
                "message": "The query is empty: give at least one command (fields, filter, stats, ...)."}
    for offset, part in parts:
        word = part.split(None, 1)[0] if part.strip() else ""
        begin = offset + len(part) - len(part.lstrip())
        if not word:
            return {"location": {"startCharOffset": begin, "endCharOffset": begin},
                    "message": "Expected a command after '|'."}
        name = word.split("(", 1)[0]
        if name.lower() not in COMMANDS:
            return {"location": {"startCharOffset": begin, "endCharOffset": begin + len(name)},
                    "message": f"Unknown command {name!r}: expected one of {', '.join(sorted(COMMANDS))}."}
    return None


def names_source(query: str) -> bool:
    """Whether the query chooses its log groups itself (a ``SOURCE`` command first)."""
    first = commands(query)[0][1].split(None, 1)
    return bool(first) and first[0].upper().startswith("SOURCE")


def events_in(groups: Iterable[LogGroup], start_ms: float, end_ms: float) -> list[LogEvent]:
    """The events of ``groups`` from ``start_ms`` to ``end_ms`` (inclusive), newest first."""
    found = [e for g in groups for e in g.events if start_ms <= e.timestamp <= end_ms]
    return sorted(found, key=lambda e: e.timestamp, reverse=True)


def parse_events(raw: Any, where: str, stream: str = CONTROL_STREAM) -> list[LogEvent]:
    """Events as the control API and PutLogEvents take them: ``{"message", "timestamp"?}``
    (milliseconds; default now). A wrong one raises :class:`ControlError` naming ``where[i]``."""
    if isinstance(raw, (str, Mapping)) or not isinstance(raw, Sequence):
        raise ControlError(f"{where} must be a list of events, got {raw!r}", where)
    events = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, Mapping) or set(item) - {"message", "timestamp"}:
            raise ControlError(f"{at} must be an object with message and optionally timestamp, got {item!r}", at)
        message, stamp = item.get("message"), item.get("timestamp", int(time.time() * 1000))
        if not isinstance(message, str) or not message:
            raise ControlError(f"{at}.message must be a non-empty string, got {message!r}", f"{at}.message")
        if isinstance(stamp, bool) or not isinstance(stamp, int) or stamp < 0:
            raise ControlError(f"{at}.timestamp must be milliseconds since the epoch, got {stamp!r}",
                               f"{at}.timestamp")
        events.append(LogEvent(stamp, message, stream))
    return events
