"""Authentication shared by the HTTP api and every service (commands over NATS carry the caller's
credential in the `Authorization` header, and the service checks it again against the same store).

`Authenticator.authenticate("Bearer <credential>")` → `Principal`, or `Unauthenticated`: a built-in
API token (`ast_…`, schema `auth`) or, when configured, an OIDC JWT (`shared/security/oidc.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from shared.security.oidc import OidcConfig, OidcVerifier
from shared.security.principal import Principal, Unauthenticated
from shared.security.tokens import PREFIX, TokenStore

if TYPE_CHECKING:
    from shared.runtime.settings import Settings

AUTH_HEADER = "Authorization"
"""The NATS header (as in HTTP) in which a command carries the caller's credential."""
COOKIE = "aftersales_token"
"""The HttpOnly cookie in which the browser console keeps the token (`/console/login`)."""


def bearer(value: str | None) -> str | None:
    """The credential of an `Authorization: Bearer <credential>` value, or None."""
    if not value:
        return None
    scheme, _, credential = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    return credential.strip()


class Authenticator:
    def __init__(self, tokens: TokenStore, oidc: OidcConfig | None = None) -> None:
        self.tokens = tokens
        self.oidc = OidcVerifier(oidc) if oidc is not None else None

    @classmethod
    def from_env(cls, database_url: str, schema: str, env: Mapping[str, str] | None = None) -> Authenticator:
        return cls(TokenStore(database_url, schema), OidcConfig.from_env(env))

    def open(self) -> Authenticator:
        self.tokens.open()
        return self

    def close(self) -> None:
        self.tokens.close()

    def authenticate_credential(self, credential: str | None) -> Principal:
        """Blocking (a database read, maybe a JWKS fetch): run it in a thread from async code."""
        if not credential:
            raise Unauthenticated("no credential: send Authorization: Bearer <API token or OIDC JWT>")
        if credential.startswith(PREFIX):
            return self.tokens.verify(credential)
        if credential.count(".") == 2:
            if self.oidc is None:
                raise Unauthenticated("OIDC tokens are not accepted here (AFTERSALES_OIDC_ISSUER is not set)")
            return self.oidc.verify(credential)
        raise Unauthenticated("unrecognised credential: neither an API token nor a JWT")

    def authenticate(self, authorization: str | None) -> Principal:
        return self.authenticate_credential(bearer(authorization))


def authenticator_for(settings: Settings) -> Authenticator:
    """The process's authenticator: tokens in schema `auth` (namespaced), OIDC from the environment."""
    return Authenticator.from_env(settings.database_url, settings.names.db_schema("auth")).open()
