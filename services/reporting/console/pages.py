"""The console's page routers, in the order they are included (see the package docstring)."""

from __future__ import annotations

from fastapi import APIRouter

from services.reporting.console import complaint, dashboard, queue

ROUTERS: tuple[APIRouter, ...] = (dashboard.router, complaint.router, queue.router)
