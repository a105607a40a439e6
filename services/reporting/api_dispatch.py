"""Read routes and staff command routes of dispatch (added to the HTTP entry point)."""

from __future__ import annotations

from fastapi import FastAPI

from shared.events.subjects import Names


def add_routes(api: FastAPI, names: Names) -> None:
    """Add dispatch's routes (fines ledger, dispatch commands)."""
