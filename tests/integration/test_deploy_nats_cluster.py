"""deploy/nats/ as it is committed runs: three pinned `nats-server`s started from copies of the node
files (only host paths and ports changed, certificates made here by `openssl`) form the cluster over
mutual TLS, take clients over TLS with the users of users.conf, and refuse what a user may not publish."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import nats
import pytest
from nats.aio.client import Client as NatsClient

from shared.events.subjects import Names
from shared.runtime.embedded import free_port, nats_server_binary, wait_for_port
from shared.runtime.natsauth import USERS, NatsCredentials, generate_passwords, password_variable
from shared.runtime.streams import ensure_streams
from tests.support import body, call, wait_until

pytestmark = pytest.mark.integration

DEPLOY_NATS = Path(__file__).resolve().parents[2] / "deploy" / "nats"
NODES = ("nats-1", "nats-2", "nats-3")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(tls: Path) -> None:
    """A CA, and one certificate for clients and routes alike, valid for 127.0.0.1 (keys stay in tmp)."""
    tls.mkdir()
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "1", "-subj", "/CN=test-ca",
            cwd=tls)  # fmt: skip
    openssl("req", *ec, "-keyout", "server-key.pem", "-out", "server.csr", "-subj", "/CN=nats", cwd=tls)
    (tls / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
            "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf", cwd=tls)  # fmt: skip
    shutil.copy(tls / "server.pem", tls / "route.pem")
    shutil.copy(tls / "server-key.pem", tls / "route-key.pem")


@dataclass
class Cluster:
    urls: list[str]
    monitor: list[str]
    passwords: dict[str, str]
    ca: Path

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make the test certificates")
    root = tmp_path_factory.mktemp("deploy-cluster")
    make_certificates(root / "tls")
    ports = {node: (free_port(), free_port(), free_port()) for node in NODES}  # client, monitor, cluster
    passwords = {user: c.password for user, c in generate_passwords().items()}
    env = {password_variable(user): password for user, password in passwords.items()}
    processes = []
    for node in NODES:
        folder = root / node
        folder.mkdir()
        shutil.copy(DEPLOY_NATS / "users.conf", folder / "users.conf")
        text = (DEPLOY_NATS / f"{node}.conf").read_text(encoding="utf-8")
        client, monitor, route = ports[node]
        text = text.replace("/etc/nats/tls/", f"{root / 'tls'}/").replace("/data/jetstream", str(folder / "js"))
        text = text.replace("0.0.0.0:4222", f"127.0.0.1:{client}").replace("0.0.0.0:8222", f"127.0.0.1:{monitor}")
        text = text.replace("0.0.0.0:6222", f"127.0.0.1:{route}")
        for other in NODES:
            text = text.replace(f"nats-route://{other}:6222", f"nats-route://127.0.0.1:{ports[other][2]}")
        text = re.sub(r"max_file_store: \S+", "max_file_store: 1GB", text)
        (folder / "node.conf").write_text(text, encoding="utf-8")
        log = (folder / "server.log").open("ab")
        processes.append(subprocess.Popen([nats_server_binary(), "-c", str(folder / "node.conf")], env=env,
                                          stdout=log, stderr=subprocess.STDOUT))  # fmt: skip
    try:
        for node, process in zip(NODES, processes, strict=True):
            try:
                wait_for_port(ports[node][0], timeout_s=60.0)  # a loaded CI machine starts slowly
            except Exception as exc:
                log_text = (root / node / "server.log").read_text(encoding="utf-8", errors="replace")
                raise AssertionError(f"{node} (exit {process.poll()}) did not listen:\n{log_text[-3000:]}") from exc
        yield Cluster(
            [f"nats://127.0.0.1:{ports[n][0]}" for n in NODES],
            [f"http://127.0.0.1:{ports[n][1]}" for n in NODES],
            passwords,
            root / "tls" / "ca.pem",
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


class Connect(Protocol):
    async def __call__(self, user: str, node: int = 0) -> NatsClient: ...


@dataclass
class Clients:
    connect: Connect
    errors: dict[str, list[str]]
    """user -> the errors its connection reported"""


@pytest.fixture
async def clients(cluster: Cluster) -> AsyncIterator[Clients]:
    """Connections as the cluster's users, closed at the end."""
    opened: list[NatsClient] = []
    errors: dict[str, list[str]] = {}

    async def connect(user: str, node: int = 0) -> NatsClient:
        seen = errors.setdefault(user, [])

        async def on_error(exc: Exception) -> None:
            seen.append(str(exc).lower())

        client = await nats.connect(cluster.urls[node], user=user, password=cluster.passwords[user],
                                    tls=cluster.tls(), error_cb=on_error)  # fmt: skip
        opened.append(client)
        return client

    errors["connect"] = []
    yield Clients(connect, errors)
    for client in opened:
        await client.close()


async def test_the_cluster_forms_over_mutual_tls(cluster: Cluster) -> None:
    async def ready() -> bool:
        async with httpx.AsyncClient() as http:
            try:
                codes = [(await http.get(f"{m}/healthz")).status_code for m in cluster.monitor]
            except httpx.HTTPError:
                return False
        return codes == [200, 200, 200]

    await wait_until(ready, timeout_s=30, interval_s=0.3, what="three healthy nodes with a JetStream meta leader")
    async with httpx.AsyncClient() as http:
        routes = (await http.get(f"{cluster.monitor[0]}/routez")).json()
    assert {r.get("remote_name") for r in routes["routes"]} == {"nats-2", "nats-3"}


async def test_clients_need_tls_with_the_ca_and_a_user(cluster: Cluster) -> None:
    with pytest.raises((ssl.SSLError, nats.errors.Error, OSError)):  # the system CAs do not know this server
        await nats.connect(cluster.urls[0], user="telephony", password=cluster.passwords["telephony"],
                           allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=3)  # fmt: skip
    with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
        await nats.connect(cluster.urls[0], tls=cluster.tls(), allow_reconnect=False, max_reconnect_attempts=0)


async def test_a_forged_dispatch_event_is_refused_and_a_call_is_taken(cluster: Cluster, clients: Clients) -> None:
    await test_the_cluster_forms_over_mutual_tls(cluster)
    names = Names()
    ops = await clients.connect("ops", node=1)
    await ensure_streams(ops.jetstream(timeout=10), names, replicas=3)
    assert (await ops.jetstream().stream_info(names.telephony_stream)).config.num_replicas == 3

    telephony = await clients.connect("telephony", node=2)
    ack = await telephony.jetstream(timeout=10).publish(names.complaint_received, body(call("C-DEPLOY-1")))
    assert ack.stream == names.telephony_stream
    await telephony.publish(names.event("dispatch", "TechnicianAssigned"), b'{"forged": true}')
    await telephony.flush()
    await asyncio.sleep(0.3)
    forged = 'violation for publish to "aftersales.dispatch.technicianassigned"'
    assert any(forged in e for e in clients.errors["telephony"])
    assert (await ops.jetstream().stream_info(names.events_stream("dispatch"))).state.messages == 0

    dispatch = await clients.connect("dispatch")
    await dispatch.publish(names.commands("intake"), b"{}")
    await dispatch.flush()
    await asyncio.sleep(0.3)
    assert any("violation" in e for e in clients.errors["dispatch"])
    assert set(cluster.passwords) == set(USERS)


def simulate(env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "aftersales.cli", "simulate", "--count", "3", "--rate", "0",
                           "--duplicates", "0", "--bad", "0"], env=env, capture_output=True, timeout=120,
                          check=False)  # fmt: skip


async def test_a_process_connects_with_the_deployment_settings(cluster: Cluster, tmp_path: Path) -> None:
    """What deploy/systemd gives a process: `tls://` NATS_URL, SSL_CERT_FILE (the internal CA) and
    AFTERSALES_NATS_CREDENTIALS; `aftersales simulate` publishes as the telephony integrator would."""
    await test_the_cluster_forms_over_mutual_tls(cluster)
    ops = await nats.connect(cluster.urls[0], user="ops", password=cluster.passwords["ops"], tls=cluster.tls())
    try:
        await ensure_streams(ops.jetstream(timeout=10), Names(), replicas=3)
        before = (await ops.jetstream().stream_info(Names().telephony_stream)).state.messages
        creds = tmp_path / "telephony.credentials"
        NatsCredentials("telephony", cluster.passwords["telephony"]).write(creds)
        env = {**os.environ, "NATS_URL": cluster.urls[1].replace("nats://", "tls://"),
               "SSL_CERT_FILE": str(cluster.ca), "AFTERSALES_NATS_CREDENTIALS": str(creds),
               "DATABASE_URL": "postgresql://unused@127.0.0.1/unused"}  # fmt: skip
        env.pop("AFTERSALES_NAMESPACE", None)
        done = await asyncio.to_thread(simulate, env)
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
        after = (await ops.jetstream().stream_info(Names().telephony_stream)).state.messages
        assert after == before + 3
    finally:
        await ops.close()
