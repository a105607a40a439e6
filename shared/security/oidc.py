"""OIDC bearer JWTs (production): checked with PyJWT against the identity provider's JWKS.

Configured by the environment (docs/contract.md §6):
- `AFTERSALES_OIDC_ISSUER` (the `iss` a token must carry; setting it turns OIDC on),
  `AFTERSALES_OIDC_AUDIENCE` (the `aud`), `AFTERSALES_OIDC_JWKS_URL` (default `<issuer>/protocol/openid-connect/certs`,
  Keycloak's), `AFTERSALES_OIDC_ALGORITHMS` (default `RS256,ES256`);
- `AFTERSALES_OIDC_ID_CLAIM` (`preferred_username`), `AFTERSALES_OIDC_NAME_CLAIM` (`name`),
  `AFTERSALES_OIDC_ROLE_CLAIM` (`aftersales_role`; a dotted path such as `realm_access.roles` names a
  list, of which the first staff role counts, else `viewer`), `AFTERSALES_OIDC_ROLE_MAP`
  (`idp-role=role,…`, applied first), `AFTERSALES_OIDC_DEPARTMENT_CLAIM` (`department`).
Signature, `exp`, `nbf`, `iss` and `aud` are checked by PyJWT; the keys are fetched and cached by
`PyJWKClient` (refetched for an unknown `kid`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from shared.security.principal import READ_ONLY_ROLES, Principal, Unauthenticated
from shared.security.tokens import ROLES


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    audience: str
    jwks_url: str
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    id_claim: str = "preferred_username"
    name_claim: str = "name"
    role_claim: str = "aftersales_role"
    role_map: Mapping[str, str] = field(default_factory=dict)
    department_claim: str = "department"
    leeway_s: int = 30

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OidcConfig | None:
        env = os.environ if env is None else env
        issuer = env.get("AFTERSALES_OIDC_ISSUER", "").strip()
        if not issuer:
            return None
        audience = env.get("AFTERSALES_OIDC_AUDIENCE", "").strip()
        if not audience:
            raise ValueError("AFTERSALES_OIDC_AUDIENCE must be set with AFTERSALES_OIDC_ISSUER")
        role_map = {}
        for pair in filter(None, (p.strip() for p in env.get("AFTERSALES_OIDC_ROLE_MAP", "").split(","))):
            source, _, target = pair.partition("=")
            if target not in ROLES:
                raise ValueError(f"AFTERSALES_OIDC_ROLE_MAP maps {source!r} to unknown role {target!r}")
            role_map[source] = target
        default = cls(issuer, audience, "")
        return cls(
            issuer=issuer,
            audience=audience,
            jwks_url=env.get("AFTERSALES_OIDC_JWKS_URL") or issuer.rstrip("/") + "/protocol/openid-connect/certs",
            algorithms=tuple(a.strip() for a in env.get("AFTERSALES_OIDC_ALGORITHMS", "RS256,ES256").split(",")),
            id_claim=env.get("AFTERSALES_OIDC_ID_CLAIM", default.id_claim),
            name_claim=env.get("AFTERSALES_OIDC_NAME_CLAIM", default.name_claim),
            role_claim=env.get("AFTERSALES_OIDC_ROLE_CLAIM", default.role_claim),
            role_map=role_map,
            department_claim=env.get("AFTERSALES_OIDC_DEPARTMENT_CLAIM", default.department_claim),
        )


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


class OidcVerifier:
    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self.jwks = jwt.PyJWKClient(config.jwks_url, cache_keys=True, lifespan=300, timeout=5)

    def verify(self, token: str) -> Principal:
        config = self.config
        try:
            key = self.jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=list(config.algorithms), audience=config.audience, issuer=config.issuer,
                leeway=config.leeway_s, options={"require": ["exp", "iss", "aud"]},
            )  # fmt: skip
        except jwt.PyJWKClientConnectionError as exc:
            raise Unauthenticated(f"the identity provider's keys could not be fetched: {exc}") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid OIDC token: {exc}") from exc
        person = _claim(claims, config.id_claim) or claims.get("sub")
        if not isinstance(person, str) or not person or ":" in person:
            raise Unauthenticated(f"the OIDC token has no usable {config.id_claim!r} claim")
        role = self._role(_claim(claims, config.role_claim))
        if role is None:
            raise Unauthenticated(f"the OIDC token's {config.role_claim!r} claim names no role of this system")
        department = _claim(claims, config.department_claim)
        name = _claim(claims, config.name_claim)
        return Principal(
            id=person, name=name if isinstance(name, str) and name else person, role=role,  # type: ignore[arg-type]
            department=department if isinstance(department, str) else None,
            credential_id="jwt-" + hashlib.sha256(token.encode()).hexdigest()[:16], method="oidc",
        )  # fmt: skip

    def _role(self, value: Any) -> str | None:
        """The role a claim names: of a list, the first that is a staff role, else `viewer` if named."""
        candidates = value if isinstance(value, list) else [value]
        roles = [self.config.role_map.get(c, c) for c in candidates if isinstance(c, str)]
        ours = [role for role in roles if role in ROLES]
        staff = [role for role in ours if role not in READ_ONLY_ROLES]
        chosen = staff or ours
        return chosen[0] if chosen else None
