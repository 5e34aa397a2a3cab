"""Turn AWS answers into values XCom and trigger events can carry unchanged."""

from __future__ import annotations

import base64
import datetime
import decimal
from collections.abc import Mapping
from typing import Any

#: Keys botocore adds to every answer; transport detail, not part of the result.
TRANSPORT_KEYS = frozenset({"ResponseMetadata"})


def to_json_safe(value: Any) -> Any:
    """Return ``value`` with datetimes as ISO-8601 strings and no transport metadata.

    Datetimes keep their timezone (botocore parses AWS timestamps as aware UTC values);
    bytes become base64 text and decimals become int or float.
    """
    if isinstance(value, Mapping):
        return {str(k): to_json_safe(v) for k, v in value.items() if k not in TRANSPORT_KEYS}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json_safe(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
