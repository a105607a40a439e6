"""What the profilers in bench/ share: sorting a function into an area, and the markdown tables of a profile."""

from __future__ import annotations

import cProfile
import os
import pstats
from collections import defaultdict
from collections.abc import Callable, Sequence

Areas = Sequence[tuple[str, Callable[[str], bool]]]


def classifier(areas: Areas, other: str = "other (stdlib, typing, builtins)") -> Callable[[str, str], str]:
    """`(filename, function) -> area`: the first of `areas` whose test matches `filename:function`."""

    def area_of(filename: str, name: str) -> str:
        where = f"{filename}:{name}"
        for area, match in areas:
            if match(where):
                return area
        return other

    return area_of


def print_profile(
    profiler: cProfile.Profile, n: float, area: Callable[[str, str], str], top: int, self_top: int | None = None
) -> None:
    """Self time by area and the top functions by cumulative and by self time, as markdown tables."""
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in raw.values())
    by_area: dict[str, float] = defaultdict(float)
    for (filename, _, name), (_, _, tt, _, _) in raw.items():
        by_area[area(filename, name)] += tt
    print("| area (self time) | s | share | µs per complaint |\n|---|---:|---:|---:|")
    for name, tt in sorted(by_area.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {tt:.2f} | {100 * tt / total:.0f} % | {1e6 * tt / n:,.0f} |")
    for key, shown, by in ((3, top, "cumulative"), (2, top // 2 + 3 if self_top is None else self_top, "self")):
        print(f"\n| top {shown} functions by {by} time | calls | cum s | self s | area |\n|---|---:|---:|---:|---|")
        rows = sorted(raw.items(), key=lambda kv: -kv[1][key])  # type: ignore[operator]
        for (filename, line, name), (_, nc, tt, ct, _) in rows[:shown]:
            short = filename.split("site-packages/")[-1].replace(os.getcwd() + "/", "")
            print(f"| `{short}:{line}({name})` | {nc} | {ct:.2f} | {tt:.2f} | {area(filename, name)} |")
