"""Pure parts of staff identity (docs/contract.md §6): causation ids, bearer parsing, public paths,
OIDC settings and separation of duties. The credential checks themselves run against PostgreSQL and
a served JWKS in tests/integration/test_identity.py."""

from __future__ import annotations

import pytest

from services.reporting.auth_http import credential_of, is_public
from shared.runtime.commands import as_principal
from shared.security.authn import bearer
from shared.security.duties import SeparationOfDuties, refuse_own
from shared.security.oidc import OidcConfig
from shared.security.principal import Principal, acted_by, describe, parse_causation

PRINCIPAL = Principal(id="bm-07", name="李经理", role="branch_manager", department="sales_sc",
                      credential_id="tok-0123456789ab", method="token")  # fmt: skip


def test_a_causation_id_names_the_principal_and_reads_back() -> None:
    causation = acted_by("ReverseFine", PRINCIPAL, "_INBOX.abc.def")
    assert causation == "command:ReverseFine:bm-07:branch_manager:token:tok-0123456789ab:_INBOX.abc.def"
    acted = parse_causation(causation)
    assert acted is not None
    assert (acted.command, acted.actor, acted.role, acted.method, acted.credential_id) == (
        "ReverseFine", "bm-07", "branch_manager", "token", "tok-0123456789ab",
    )  # fmt: skip
    assert describe(acted) == "bm-07 (branch_manager), API token tok-0123456789ab"


def test_an_older_causation_id_is_read_as_declared_not_authenticated() -> None:
    acted = parse_causation("command:Relay:agent-017:_INBOX.x")
    assert acted is not None
    assert (acted.actor, acted.method) == ("agent-017", None)
    assert "not authenticated" in describe(acted)
    assert parse_causation("timer:relay:abc") is None


@pytest.mark.parametrize(
    ("header", "credential"),
    [("Bearer ast_x", "ast_x"), ("bearer  eyJ.a.b ", "eyJ.a.b"), ("Basic dXNlcg==", None), ("Bearer ", None),
     (None, None), ("", None)],
)  # fmt: skip
def test_bearer(header: str | None, credential: str | None) -> None:
    assert bearer(header) == credential


def test_the_credential_comes_from_the_header_or_the_console_cookie() -> None:
    header = {"type": "http", "headers": [(b"authorization", b"Bearer ast_h")]}
    cookie = {"type": "http", "headers": [(b"cookie", b"theme=dark; aftersales_token=ast_c")]}
    both = {"type": "http", "headers": [(b"authorization", b"Bearer ast_h"), (b"cookie", b"aftersales_token=ast_c")]}
    assert (credential_of(header), credential_of(cookie), credential_of(both)) == ("ast_h", "ast_c", "ast_h")
    assert credential_of({"type": "http", "headers": []}) is None


def test_public_paths() -> None:
    assert all(is_public(p, metrics_open=False) for p in ("/healthz", "/docs", "/openapi.json", "/static/app.js"))
    assert is_public("/metrics", metrics_open=True)
    assert not is_public("/metrics", metrics_open=False)
    assert not any(is_public(p, True) for p in ("/api/v1/fines", "/console", "/healthz/x", "/docs/../api/v1"))


def test_oidc_settings_from_the_environment() -> None:
    assert OidcConfig.from_env({}) is None
    env = {"AFTERSALES_OIDC_ISSUER": "https://sso.example.com/realms/a", "AFTERSALES_OIDC_AUDIENCE": "api",
           "AFTERSALES_OIDC_ROLE_MAP": "qa=tq, boss=gm"}  # fmt: skip
    config = OidcConfig.from_env(env)
    assert config is not None
    assert config.jwks_url == "https://sso.example.com/realms/a/protocol/openid-connect/certs"
    assert dict(config.role_map) == {"qa": "tq", "boss": "gm"}
    with pytest.raises(ValueError, match="AUDIENCE"):
        OidcConfig.from_env({"AFTERSALES_OIDC_ISSUER": "https://sso.example.com"})
    with pytest.raises(ValueError, match="unknown role 'wizard'"):
        OidcConfig.from_env({"AFTERSALES_OIDC_ISSUER": "i", "AFTERSALES_OIDC_AUDIENCE": "a",
                             "AFTERSALES_OIDC_ROLE_MAP": "x=wizard"})  # fmt: skip


def test_nobody_decides_about_themselves() -> None:
    refuse_own("SOD-OWN-FINE", "bm-01", "reverse fine f-1", "eng-1", "agent-017")
    with pytest.raises(SeparationOfDuties, match="SOD-OWN-FINE: bm-07 may not reverse fine f-1"):
        refuse_own("SOD-OWN-FINE", "bm-07", "reverse fine f-1", "bm-07")
    refuse_own("SOD-OWN-FEE", "dgm-1", "approve", None)


def test_a_command_takes_its_actor_from_the_principal_and_keeps_every_other_byte() -> None:
    body = b'{"command":"report_sale","remote_reduction":0.0500000000000000000001,"part_id":"P-1"}'
    stamped = as_principal(body, PRINCIPAL)
    assert stamped == body[:-1] + b',"actor":{"id":"bm-07","role":"branch_manager"}}'
    same = b'{"actor":{"id":"bm-07","role":"branch_manager"},"x":1}'
    assert as_principal(same, PRINCIPAL) == same
    for forged in (
        b'{"actor":{"id":"gm-1","role":"gm"}}',
        b'{"actor":{"id":"bm-07","role":"gm"}}',
        b'{"actor":"bm-07"}',
    ):
        refused = as_principal(forged, PRINCIPAL)
        assert isinstance(refused, str)
        assert "not the authenticated bm-07" in refused
    assert as_principal(b"[1]", PRINCIPAL) == b"[1]"  # left to the decoder's 422
