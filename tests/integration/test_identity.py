"""Issue 10, staff identity (docs/contract.md §6), against real NATS JetStream and PostgreSQL: API
tokens from the token store, OIDC JWTs checked against a JWKS served over HTTP by this test (a key it
generates), principals on every route, the credential re-checked by the service over NATS, and
separation of duties."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from aftersales.replay import History, complaint_history, render_text
from services.reporting.api import create_api
from services.reporting.main import build_store
from shared.events.commands import decode_reply
from shared.runtime.embedded import free_port
from shared.runtime.settings import Settings
from shared.security.authn import AUTH_HEADER
from shared.security.tokens import TokenStore
from tests.api_support import serving, staff_auth
from tests.integration.conftest import System
from tests.integration.test_intake_first_response_and_fines import BRANCH_MANAGER, Desk, desk  # noqa: F401
from tests.support import call, wait_until

pytestmark = pytest.mark.integration

ISSUER = "http://127.0.0.1/realms/aftersales"
AUDIENCE = "aftersales-api"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------------------ OIDC: a real JWKS


class Jwks:
    """An identity provider's key set, served over HTTP on 127.0.0.1, and tokens signed with its key."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        body = json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/certs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, key: Any = None, expires_in: int = 300, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + expires_in,
                   "preferred_username": "tq-oidc-1", "name": "周工", "realm_access": {"roles": ["offline", "qa"]},
                   "department": "technical_quality", **claims}  # fmt: skip
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": "k1"})

    def env(self) -> dict[str, str]:
        return {"AFTERSALES_OIDC_ISSUER": ISSUER, "AFTERSALES_OIDC_AUDIENCE": AUDIENCE,
                "AFTERSALES_OIDC_JWKS_URL": self.url, "AFTERSALES_OIDC_ROLE_CLAIM": "realm_access.roles",
                "AFTERSALES_OIDC_ROLE_MAP": "qa=tq,offline=viewer"}  # fmt: skip


@pytest.fixture
def jwks() -> Iterator[Jwks]:
    provider = Jwks()
    yield provider
    provider.server.shutdown()


@pytest.fixture
def oidc_env(jwks: Jwks, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process configured by the environment for the provider of `jwks`."""
    for name, value in jwks.env().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
async def oidc_desk(oidc_env: None, system: System, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Intake and reporting (`system`, built after `oidc_env`) and the api."""
    api = create_api(lambda: build_store(settings), settings.nats_url, settings.names)
    async with serving(api) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        yield http


async def test_an_oidc_jwt_is_accepted_and_a_forged_or_expired_one_refused(
    oidc_desk: httpx.AsyncClient, jwks: Jwks, settings: Settings
) -> None:
    http = oidc_desk
    good = jwks.token()
    assert (await http.get("/api/v1/reports/tracking-register", headers=bearer(good))).status_code == 200

    forged = jwks.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    expired = jwks.token(expires_in=-3600)
    wrong_audience = jwks.token(aud="another-api")
    no_role = jwks.token(realm_access={"roles": ["unknown"]})
    for token, words in ((forged, "Signature verification failed"), (expired, "expired"),
                         (wrong_audience, "Audience"), (no_role, "names no role")):  # fmt: skip
        refused = await http.get("/api/v1/reports/tracking-register", headers=bearer(token))
        assert refused.status_code == 401, refused.text
        assert words in refused.json()["detail"]
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")

    # A command with the JWT: the api forwards it, intake checks it again against the same JWKS.
    async def registered() -> bool:
        response = await http.get("/api/v1/complaints", params={"call_id": "CALL-OIDC"}, headers=bearer(good))
        return bool(response.json())

    from tests.support import Bus

    bus = await Bus.connect(settings)
    try:
        await bus.js.publish(settings.names.clock_tick, b'{"now": "2026-11-23T09:20:00+08:00"}')
        await bus.publish_call(call("CALL-OIDC"))
        await wait_until(registered, what="the complaint")
        [complaint] = (await http.get("/api/v1/complaints", params={"call_id": "CALL-OIDC"},
                                      headers=bearer(good))).json()  # fmt: skip
        no = complaint["complaint_no"]

        answers: list[httpx.Response] = []

        async def classified() -> bool:
            answers.append(await http.post(f"/api/v1/complaints/{no}/classify", headers=bearer(good),
                                           json={"cause": "quality", "level": 3, "on_site": False}))  # fmt: skip
            return answers[-1].status_code != 503  # until intake's clock has its first tick

        await wait_until(classified, what="the classification")
        assert answers[-1].status_code == 200, answers[-1].text

        async def projected() -> bool:
            view = (await http.get(f"/api/v1/complaints/{no}", headers=bearer(good))).json()
            return bool(view["cause"] == "quality")

        await wait_until(projected, what="the classification in the read model")
        # Over NATS, the same expired JWT is refused by intake itself.
        message = {"command": "classify", "complaint_no": no, "cause": "quality", "level": 2, "on_site": False}
        reply = await bus.nc.request(settings.names.commands("intake"), msgspec.json.encode(message), timeout=10,
                                     headers={AUTH_HEADER: f"Bearer {expired}"})  # fmt: skip
        assert decode_reply(reply.data).status == 401
        offline = jwks.token(realm_access={"roles": ["offline"]})  # mapped to viewer: reads only
        refused = await http.post(f"/api/v1/complaints/{no}/close", headers=bearer(offline), json={"outcome": "x"})
        assert refused.status_code == 403
    finally:
        await bus.close()


# ------------------------------------------------------------------------------ API tokens


@pytest.fixture
async def api_desk(system: System, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    api = create_api(lambda: build_store(settings), settings.nats_url, settings.names)
    async with serving(api) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        yield http


async def registered(system: System, http: httpx.AsyncClient, token: str, call_id: str) -> str:
    await system.bus.js.publish(system.bus.names.clock_tick, b'{"now": "2026-11-23T09:20:00+08:00"}')
    await system.bus.publish_call(call(call_id))
    found: list[dict[str, Any]] = []

    async def visible() -> bool:
        nonlocal found
        found = (await http.get("/api/v1/complaints", params={"call_id": call_id}, headers=bearer(token))).json()
        return bool(found)

    await wait_until(visible, what=f"the complaint of {call_id}")
    complaint_no: str = found[0]["complaint_no"]
    return complaint_no


async def test_no_token_401_wrong_role_403_forged_actor_403_and_events_name_the_credential(
    system: System, api_desk: httpx.AsyncClient, settings: Settings
) -> None:
    http = api_desk
    staff = staff_auth(settings)
    agent, tq = staff.token("agent-017", "agent"), staff.token("tq-003", "tq")
    no = await registered(system, http, tq, "CALL-ID-1")

    # Public: health and metrics (AFTERSALES_METRICS_PUBLIC defaults on) and the API description.
    for path in ("/healthz", "/metrics", "/openapi.json", "/docs"):
        assert (await http.get(path)).status_code == 200, path
    # Everything else needs a credential.
    for method, path in (("GET", "/api/v1/reports/tracking-register"), ("GET", f"/api/v1/complaints/{no}"),
                         ("GET", "/api/v1/fines"), ("POST", f"/api/v1/complaints/{no}/relay")):  # fmt: skip
        refused = await http.request(method, path, json={} if method == "POST" else None)
        assert refused.status_code == 401, (path, refused.text)
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    garbage = await http.get("/api/v1/fines", headers=bearer("ast_000000000000_" + "x" * 43))
    assert garbage.status_code == 401

    # The role comes from the token: an agent may not classify, whatever the body says.
    wrong_role = await http.post(f"/api/v1/complaints/{no}/classify", headers=bearer(agent),
                                 json={"cause": "quality", "level": 3, "on_site": False})  # fmt: skip
    assert wrong_role.status_code == 403, wrong_role.text
    forged = await http.post(f"/api/v1/complaints/{no}/classify", headers=bearer(agent),
                             json={"actor": {"id": "tq-003", "role": "tq"}, "cause": "quality", "level": 3,
                                   "on_site": False})  # fmt: skip
    assert forged.status_code == 403
    assert "not the authenticated agent-017" in forged.json()["error"]
    promoted = await http.post(f"/api/v1/complaints/{no}/relay", headers=bearer(agent),
                               json={"actor": {"id": "agent-017", "role": "gm"}})  # fmt: skip
    assert promoted.status_code == 403

    # The body may omit the actor; the events record who acted and with which credential.
    relayed = await http.post(f"/api/v1/complaints/{no}/relay", headers=bearer(agent), json={})
    assert relayed.status_code == 200, relayed.text
    history = await asyncio.to_thread(History, settings)
    steps = await asyncio.to_thread(complaint_history, history, no)
    [relay] = [step.as_json() for step in steps if step.envelope.type == "ComplaintRelayed"]
    acted = relay["acted_by"]
    assert (acted["actor"], acted["role"], acted["method"]) == ("agent-017", "agent", "token")
    assert agent.startswith("ast_" + acted["credential_id"].removeprefix("tok-"))
    assert "by agent-017 (agent), API token tok-" in render_text("x", steps)


async def test_a_viewer_reads_reports_and_is_refused_every_command(
    system: System, api_desk: httpx.AsyncClient, settings: Settings
) -> None:
    http = api_desk
    viewer = staff_auth(settings).token("dash-1", "viewer")
    for path in ("/api/v1/reports/tracking-register", "/api/v1/reports/kpis", "/api/v1/fines", "/api/v1/engineers",
                 "/api/v1/reports/old-parts"):  # fmt: skip
        assert (await http.get(path, headers=bearer(viewer))).status_code == 200, path
    paths = (await http.get("/openapi.json")).json()["paths"]
    commands = [p for p, ops in paths.items() if "post" in ops and p.startswith("/api/")]
    assert len(commands) >= 40
    for path in commands:
        concrete = path.replace("{complaint_no}", "TS-2026-00000001").replace("{part_id}", "P-1")
        concrete = concrete.replace("{engineer_id}", "eng-1")
        refused = await http.post(concrete, headers=bearer(viewer), json={})
        assert refused.status_code == 403, (path, refused.text)
        assert "read-only" in refused.json()["error"]


async def test_a_command_on_nats_without_a_valid_credential_is_refused(system: System, settings: Settings) -> None:
    subject = settings.names.commands("intake")
    message = msgspec.json.encode({"command": "relay", "complaint_no": "TS-2026-00000001",
                                   "actor": {"id": "gm-1", "role": "gm"}})  # fmt: skip
    bare = decode_reply((await system.bus.nc.request(subject, message, timeout=10)).data)
    assert (bare.ok, bare.status) == (False, 401)
    assert "no credential" in (bare.error or "")
    store = TokenStore(settings.database_url, settings.names.db_schema("auth")).open()
    try:
        token = store.add_user("agent-x", "坐席", "agent")
        assert store.revoke("agent-x")
    finally:
        store.close()
    revoked = decode_reply(
        (await system.bus.nc.request(subject, message, timeout=10, headers={AUTH_HEADER: f"Bearer {token}"})).data
    )
    assert (revoked.ok, revoked.status) == (False, 401)
    viewer = staff_auth(settings).token("dash-2", "viewer")
    read_only = decode_reply(
        (await system.bus.nc.request(subject, message, timeout=10, headers={AUTH_HEADER: f"Bearer {viewer}"})).data
    )
    assert read_only.status == 403
    agent = staff_auth(settings).token("agent-y", "agent")
    forged = decode_reply(
        (await system.bus.nc.request(subject, message, timeout=10, headers={AUTH_HEADER: f"Bearer {agent}"})).data
    )
    assert forged.status == 403
    assert "not the authenticated agent-y" in (forged.error or "")


# ------------------------------------------------------------------------------ separation of duties


async def test_a_manager_may_not_reverse_his_own_fine(desk: Desk) -> None:  # noqa: F811
    """SOD-OWN-FINE: bm-07 received the call himself and missed the relay (FIN-RELAY-LATE is his)."""
    await desk.tick("2027-03-02T09:00:00+08:00")
    no = await desk.register(call("CALL-SOD-FINE", received_at="2027-03-02T09:00:00+08:00", agent_id="bm-07"))
    await desk.tick("2027-03-02T13:01:00+08:00")  # INT-RELAY-4WH missed
    view = await desk.settled(no, lambda v: v["fines"], "the relay fine")
    [fine] = view["fines"]
    assert (fine["rule"], fine["person"]) == ("FIN-RELAY-LATE", "bm-07")
    himself = {"id": "bm-07", "role": "branch_manager"}
    answers: list[httpx.Response] = []

    async def refused() -> bool:  # once dispatch has noted intake's fine
        answers.append(await desk.command(no, "fines/reverse", himself, fine_id=fine["fine_id"], reason="自己撤销"))
        return answers[-1].status_code == 403

    await wait_until(refused, what="the reversal refused")
    assert "SOD-OWN-FINE" in answers[-1].json()["error"]
    other = await desk.command(no, "fines/reverse", BRANCH_MANAGER, fine_id=fine["fine_id"], reason="核实属实")
    assert other.status_code == 200, other.text


async def test_the_console_login_keeps_the_token_in_an_httponly_cookie(
    system: System, api_desk: httpx.AsyncClient, settings: Settings
) -> None:
    http = api_desk
    html = {"Accept": "text/html"}
    sent_away = await http.get("/", headers=html)
    assert (sent_away.status_code, sent_away.headers["location"]) == (303, "/console/login")
    assert (await http.get("/console/login")).status_code == 200
    wrong = await http.post("/console/login", data={"token": "ast_000000000000_" + "y" * 43})
    assert wrong.status_code == 401
    assert "set-cookie" not in wrong.headers
    token = staff_auth(settings).token("tq-009", "tq")
    logged_in = await http.post("/console/login", data={"token": token})
    assert logged_in.status_code == 303
    cookie = logged_in.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    async with httpx.AsyncClient(base_url=http.base_url, cookies={"aftersales_token": token}) as browser:
        page = await browser.get("/", headers=html)
        assert page.status_code == 200
        assert "tq-009（tq）" in page.text
        assert (await browser.get("/api/v1/fines")).status_code == 200


async def test_metrics_take_a_credential_when_not_public(
    system: System, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AFTERSALES_METRICS_PUBLIC", "0")
    api = create_api(lambda: build_store(settings), settings.nats_url, settings.names)
    async with serving(api) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/healthz")).status_code == 200
        token = staff_auth(settings).token("prometheus", "viewer")
        scraped = await http.get("/metrics", headers=bearer(token))
        assert scraped.status_code == 200
        assert "aftersales_health_degraded" in scraped.text
        schema = (await http.get("/openapi.json")).json()
        assert schema["paths"]["/metrics"]["get"].get("security") != []
        assert schema["paths"]["/healthz"]["get"]["security"] == []
