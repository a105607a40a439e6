"""Realistic telephony traffic: Chinese customers and regions (docs/rules.md §5), duplicates, bad messages."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import nats

from shared.events.subjects import Names

CHINA = ZoneInfo("Asia/Shanghai")
REGIONS = (
    "四川", "宁夏", "青海", "甘肃", "辽宁", "云南", "重庆", "广西", "内蒙古", "河北", "湖北", "贵州",
    "吉林", "黑龙江", "新疆", "江苏", "浙江", "广东", "山东", "河南", "湖南", "安徽", "陕西", "北京",
)  # fmt: skip
CUSTOMERS = (
    "中铁十局物资公司", "中建三局机械租赁站", "成都路桥工程有限公司", "新疆天山建材集团", "广西柳工租赁",
    "湖北宏达起重设备公司", "内蒙古草原吊装队", "河北燕赵工程机械", "云南滇中建设", "吉林长白物流",
)  # fmt: skip
MODELS = ("QY25K", "QY50KA", "ZTC800", "STC250", "SAC2200", "XCT25")
FAULTS = (
    "主臂伸缩油缸漏油, 无法作业", "发动机无法启动", "回转机构异响", "液压系统压力不足", "仪表显示故障代码 E017",
    "力矩限制器报警, 吊臂无法变幅", "支腿自动回缩", "咨询保养周期和机油型号",
)  # fmt: skip


@dataclass
class SimulationStats:
    sent: int = 0
    duplicates: int = 0
    bad: int = 0
    call_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0


def complaint_message(rng: random.Random, n: int, received_at: dt.datetime, run_id: str) -> dict[str, Any]:
    kind = "consultation" if rng.random() < 0.15 else "fault"
    acceptance = None if rng.random() < 0.05 else (received_at.date() - dt.timedelta(days=rng.randint(30, 900)))
    distance = None if rng.random() < 0.03 else round(rng.uniform(5, 1600), 1)
    return {
        "schema": "ComplaintReceived/1",
        "call_id": f"CALL-{received_at:%Y%m%d}-{run_id}-{n:07d}",
        "received_at": received_at.isoformat(),
        "agent_id": f"agent-{rng.randint(1, 40):03d}",
        "kind": kind,
        "customer": {"name": rng.choice(CUSTOMERS), "phone": f"13{rng.randint(100000000, 999999999)}"},
        "equipment": {
            "serial": f"{rng.choice(MODELS)}-{rng.randint(2019, 2026)}-{rng.randint(1, 99999):05d}",
            "model": rng.choice(MODELS),
            "acceptance_date": None if acceptance is None else acceptance.isoformat(),
        },
        "site": {"region": rng.choice(REGIONS), "distance_km": distance, "address": "工地现场"},
        "description": FAULTS[-1] if kind == "consultation" else rng.choice(FAULTS[:-1]),
    }


BAD_MESSAGES = (
    b"{not json",
    b'{"schema": "ComplaintReceived/9", "call_id": "X"}',
    b'{"schema": "ComplaintReceived/1", "kind": "fault", "received_at": "2026-11-23T09:00:00+08:00"}',
)


async def simulate(
    nats_url: str,
    names: Names,
    count: int,
    rate: float | None,
    duplicate_ratio: float = 0.05,
    bad_ratio: float = 0.01,
    seed: int = 1,
    start: dt.datetime | None = None,
    spacing: dt.timedelta = dt.timedelta(seconds=30),
    nats_options: Mapping[str, str] | None = None,
) -> SimulationStats:
    """Publish `count` complaints (plus duplicates and bad ones) at `rate` per second (None: full speed),
    as the telephony system does: with `nats_options` (the `telephony` user) where NATS has users."""
    rng = random.Random(seed)  # noqa: S311 - simulation data, not security
    run_id = f"{seed:04d}{rng.randint(0, 9999):04d}"
    received = start or dt.datetime.now(CHINA).replace(microsecond=0)
    nc = await nats.connect(nats_url, **(nats_options or {}))
    js = nc.jetstream(publish_async_max_pending=4000)
    stats = SimulationStats()
    began = time.perf_counter()
    pending = []
    try:
        for n in range(count):
            message = complaint_message(rng, n, received + spacing * n, run_id)
            body = json.dumps(message, ensure_ascii=False).encode()
            pending.append(await js.publish_async(names.complaint_received, body))
            stats.sent += 1
            stats.call_ids.append(message["call_id"])
            if rng.random() < duplicate_ratio:  # the telephony system delivers the same call again
                pending.append(await js.publish_async(names.complaint_received, body))
                stats.duplicates += 1
            if rng.random() < bad_ratio:
                pending.append(await js.publish_async(names.complaint_received, rng.choice(BAD_MESSAGES)))
                stats.bad += 1
            if rate:
                ahead = (n + 1) / rate - (time.perf_counter() - began)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await nc.drain()
    stats.seconds = time.perf_counter() - began
    return stats
