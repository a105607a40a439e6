"""Topic aliases: the classes that defined events before `shared.events` Structs did, and the Struct
that defines each now (one table for every service). A stored event under an old topic is decoded from
the library's JSON format and converted to the new Struct (`shared.runtime.mapper`). Add a line here
for every nested event class a migration removes, and for an aggregate class that moved (its created
events name it); never remove a line (old events stay stored)."""

from __future__ import annotations

from typing import Final

LEGACY_TOPICS: Final[dict[str, str]] = {}
