"""The emulator's own error: a wrong request to its control API (Python or ``/_emulator/``).

A module of its own so that the wire protocol modules, which the catalogue names for an
operation's quirks, can raise and catch it without importing the emulator's state
(:mod:`.model`), which is built from the catalogue.
"""

from __future__ import annotations

from typing import Any


class ControlError(ValueError):
    """A wrong request to the emulator's own API (Python or ``/_emulator/``).

    ``field`` names the field at fault (``kind``, ``identifiers.monitor_name``,
    ``steps[1].polls``...), so that the HTTP answer can say which one.
    """

    def __init__(self, message: str, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.field = field
        self.details = details

    def answer(self) -> dict[str, Any]:
        """The JSON body of the 400 answer."""
        body: dict[str, Any] = {"error": str(self)}
        if self.field is not None:
            body["field"] = self.field
        return {**body, **self.details}
