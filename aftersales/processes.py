"""The processes `aftersales up` runs (and the benchmark mirrors): one per service, and intake's
relay on its own so that consuming and publishing use both cores."""

from __future__ import annotations

PROCESSES: dict[str, tuple[str, ...]] = {
    "intake": ("run", "intake", "--no-relay"),
    "intake-relay": ("run", "intake", "--relay-only"),
    "dispatch": ("run", "dispatch"),
    "parts": ("run", "parts"),
    "reporting": ("run", "reporting"),
    "api": ("run", "api"),
}
