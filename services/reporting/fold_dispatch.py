"""How dispatch's events show in the complaint view (`view["dispatch"]`, fines, escalations)."""

from __future__ import annotations

from typing import Any

from shared.events.envelope import Envelope


def fold(view: dict[str, Any], payload: Any, envelope: Envelope) -> bool:
    """Fold one dispatch event into the complaint view; False if the event is not dispatch's."""
    return False
