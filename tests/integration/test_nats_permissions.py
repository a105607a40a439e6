"""The NATS server itself refuses what a user may not publish (shared/runtime/natsauth.py).

A pinned `nats-server` of its own, started here with the generated users and passwords: the session's
server has no users. Each client observes the server's permissions violation.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from shared.events.subjects import Names
from shared.runtime.embedded import EmbeddedNats
from shared.runtime.natsauth import NatsCredentials, write_run_credentials
from shared.runtime.streams import ensure_streams
from tests.support import body, call, wait_until

pytestmark = pytest.mark.integration


@dataclass
class Secured:
    url: str
    names: Names
    files: dict[str, Path]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    names = Names("p" + uuid.uuid4().hex[:8])
    data = tmp_path_factory.mktemp("secured-nats")
    authorization, files = write_run_credentials(data / "credentials", names)
    server = EmbeddedNats.start(data / "nats", authorization=authorization)
    yield Secured(server.url, names, files)
    server.stop()


@dataclass
class Observed:
    client: Client
    errors: list[str] = field(default_factory=list)

    async def violations(self) -> list[str]:
        await self.client.flush()
        await asyncio.sleep(0.2)  # the server's -ERR arrives after the PONG at the latest
        return [e.lower() for e in self.errors if "permissions violation" in e.lower()]


Connect = Callable[[str], Awaitable[Observed]]
"""Connects as a NATS user of the secured server, watching its errors."""


@pytest.fixture
async def connect(secured: Secured) -> AsyncIterator[Connect]:
    opened: list[Client] = []

    async def as_user(user: str) -> Observed:
        creds = NatsCredentials.read(secured.files[user])
        observed: Observed

        async def on_error(exc: Exception) -> None:
            observed.errors.append(str(exc))

        client = await nats.connect(secured.url, error_cb=on_error, **creds.connect_options())
        observed = Observed(client)
        opened.append(client)
        return observed

    yield as_user
    for client in opened:
        await client.close()


async def test_credentials_files_are_private(secured: Secured) -> None:
    assert secured.files["telephony"].stat().st_mode & 0o077 == 0
    assert secured.files["telephony"].parent.stat().st_mode & 0o077 == 0


async def test_a_wrong_password_is_refused(secured: Secured) -> None:
    with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
        await nats.connect(secured.url, user="telephony", password="guessed", max_reconnect_attempts=0,
                           allow_reconnect=False)  # fmt: skip


async def test_telephony_publishes_calls_but_cannot_forge_dispatch_events(secured: Secured, connect: Connect) -> None:
    names = secured.names
    ops = await connect("ops")
    await ensure_streams(ops.client.jetstream(), names)
    telephony = await connect("telephony")

    ack = await telephony.client.jetstream().publish(names.complaint_received, body(call("C-PERM-1")))
    assert ack.stream == names.telephony_stream

    forged = names.event("dispatch", "TechnicianAssigned")
    await telephony.client.publish(forged, b'{"forged": true}')
    violations = await telephony.violations()
    assert any(forged.lower() in v for v in violations), telephony.errors
    info = await ops.client.jetstream().stream_info(names.events_stream("dispatch"))
    assert info.state.messages == 0

    for other in (names.commands("dispatch"), names.clock_tick, names.deadletter("telephony")):
        await telephony.client.publish(other, b"{}")
    assert len(await telephony.violations()) == 4


async def test_only_the_api_sends_commands(secured: Secured, connect: Connect) -> None:
    names = secured.names
    subject = names.commands("intake")
    intake = await connect("intake")
    received: list[bytes] = []

    async def answer(msg: Msg) -> None:
        received.append(msg.data)
        await msg.respond(b"done")

    await intake.client.subscribe(subject, cb=answer)
    await intake.client.flush()

    dispatch = await connect("dispatch")
    await dispatch.client.publish(subject, b"from dispatch")
    assert any(subject.lower() in v for v in await dispatch.violations()), dispatch.errors

    api = await connect("api")
    reply = await api.client.request(subject, b"from the api", timeout=5)
    assert reply.data == b"done"
    assert received == [b"from the api"]
    assert not await intake.violations()  # answering on the api's inbox is allowed


async def test_a_service_publishes_only_its_own_events(secured: Secured, connect: Connect) -> None:
    names = secured.names
    ops = await connect("ops")
    await ensure_streams(ops.client.jetstream(), names)
    parts = await connect("parts")
    ack = await parts.client.jetstream().publish(names.event("parts", "Probe"), b"{}")
    assert ack.stream == names.events_stream("parts")
    await parts.client.publish(names.event("intake", "ComplaintRegistered"), b"{}")
    await parts.client.publish(names.complaint_received, b"{}")
    assert len(await parts.violations()) == 2, parts.errors


async def test_no_service_can_delete_or_purge_a_stream(secured: Secured, connect: Connect) -> None:
    names = secured.names
    ops = await connect("ops")
    await ensure_streams(ops.client.jetstream(), names)
    reporting = await connect("reporting")
    with pytest.raises((nats.errors.TimeoutError, TimeoutError)):  # the server dropped the request
        await reporting.client.jetstream(timeout=1).purge_stream(names.events_stream("intake"))
    assert any("purge" in v for v in await reporting.violations())


async def test_a_service_cannot_read_another_services_commands(secured: Secured, connect: Connect) -> None:
    names = secured.names
    reporting = await connect("reporting")
    await reporting.client.subscribe(names.commands("dispatch"))

    async def refused() -> bool:
        return any("subscription" in v for v in await reporting.violations())

    await wait_until(refused, timeout_s=5, what="a subscribe violation")
