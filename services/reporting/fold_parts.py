"""How parts' events show in the complaint view (`view["parts"]`)."""

from __future__ import annotations

from typing import Any

from shared.events.envelope import Envelope


def fold(view: dict[str, Any], payload: Any, envelope: Envelope) -> bool:
    """Fold one parts event into the complaint view; False if the event is not parts'."""
    return False
