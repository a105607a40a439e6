"""The console's browser libraries: pinned in web/, installed by ./dev, shipped in the image."""

from __future__ import annotations

import json
import re
from pathlib import Path

from services.reporting.console.assets import VENDOR, node_modules

ROOT = Path(__file__).resolve().parents[2]


def test_every_library_is_pinned_to_an_exact_version_in_the_lock() -> None:
    package = json.loads((ROOT / "web" / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((ROOT / "web" / "package-lock.json").read_text(encoding="utf-8"))
    assert set(package["dependencies"]) == {"echarts", "swagger-ui-dist", "redoc"}
    for name, version in package["dependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is not pinned: {version}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_every_served_file_is_installed_and_copied_into_the_image() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for name, relative in VENDOR.items():
        assert (node_modules() / relative).is_file(), f"{name}: run ./dev (npm ci in web/)"
        assert relative in dockerfile, f"the image lacks {relative}"


def test_dev_installs_the_libraries_when_the_lock_changes() -> None:
    dev = (ROOT / "dev").read_text(encoding="utf-8")
    assert "web/package-lock.json" in dev
    assert re.search(r"npm ci\b", dev)
