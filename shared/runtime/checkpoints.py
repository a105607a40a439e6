"""Signed chain checkpoints: the anchor of the audit chain outside the database.

The hash chain (`shared.runtime.store.chain_hash`) has no secret: someone who can write to the
database can rewrite events and recompute every link. So each writer signs, in the transaction that
extends the chain, a checkpoint of its last link, `(store, position, head hash, time)`, with an
Ed25519 key the database never holds (a PEM file outside it: `AFTERSALES_CHECKPOINT_KEY`). The relay
checks those signatures before it publishes, copies the checkpoints to a JetStream stream that
refuses deletes, purges and rollups, and puts each event's chain hash on its published message;
`aftersales audit verify` checks all of it with the public key only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

if TYPE_CHECKING:
    from shared.runtime.settings import Settings

HDR_CHAIN = "Aftersales-Chain"
"""On every published event: the hex sha256 chain hash of its link in the store."""
HDR_SIGNATURE = "Aftersales-Signature"
"""On the published event whose link the writer signed: the hex Ed25519 signature."""
HDR_SIGNED_AT = "Aftersales-Signed-At"
"""… and the signing time (ISO 8601, UTC) the signature covers."""
DOMAIN = "aftersales-checkpoint/1"


class CheckpointKeyError(RuntimeError):
    """The checkpoint key file is missing, unreadable or not an Ed25519 key."""


def checkpoint_message(store: str, position: int, head: bytes, at: dt.datetime) -> bytes:
    """The exact bytes signed: domain ‖ store ‖ position ‖ head hash ‖ time (microseconds, UTC)."""
    stamp = at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return f"{DOMAIN}|{store}|{position}|{head.hex()}|{stamp}".encode()


@dataclass(frozen=True)
class Verifier:
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        """The first 16 hex digits of sha256(raw public key): which key signed, without the key."""
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(raw).hexdigest()[:16]

    def valid(self, store: str, position: int, head: bytes, at: dt.datetime, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, checkpoint_message(store, position, head, at))
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey

    def sign(self, store: str, position: int, head: bytes, at: dt.datetime) -> bytes:
        return self.private_key.sign(checkpoint_message(store, position, head, at))

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.private_key.public_key())


def create_key(path: Path) -> None:
    """Write a new Ed25519 private key (PKCS#8 PEM) readable by its owner only, unless `path`
    exists. `O_EXCL`: of two processes starting at once, one creates it and the other reads it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def load_signer(path: str | Path, create: bool = False) -> Signer:
    path = Path(path)
    if create and not path.exists():
        create_key(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise CheckpointKeyError(f"cannot read the checkpoint key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointKeyError(f"{path} is not an Ed25519 private key")
    return Signer(key)


def load_verifier(public_path: str | None, private_path: str | None) -> Verifier | None:
    """The public key from `public_path` (PEM), else derived from the private key at `private_path`;
    None when neither is configured."""
    if public_path:
        try:
            key = serialization.load_pem_public_key(Path(public_path).read_bytes())
        except (OSError, ValueError) as exc:
            raise CheckpointKeyError(f"cannot read the checkpoint public key {public_path}: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise CheckpointKeyError(f"{public_path} is not an Ed25519 public key")
        return Verifier(key)
    if private_path:
        return load_signer(private_path).verifier
    return None


def public_pem(verifier: Verifier) -> str:
    return verifier.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


class Checkpoint(msgspec.Struct, frozen=True):
    """One message on the checkpoint stream (`aftersales.checkpoints.<service>`)."""

    store: str
    position: int
    head: str
    """hex chain hash of the link at `position`"""
    signed_at: dt.datetime
    signature: str
    """hex Ed25519 signature over `checkpoint_message(store, position, head, signed_at)`"""
    key_id: str

    def valid(self, verifier: Verifier) -> bool:
        try:
            head, signature = bytes.fromhex(self.head), bytes.fromhex(self.signature)
        except ValueError:
            return False
        return verifier.valid(self.store, self.position, head, self.signed_at, signature)


encode_checkpoint = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder(Checkpoint)


def decode_checkpoint(raw: bytes) -> Checkpoint:
    return _decoder.decode(raw)


def signer_for(settings: Settings) -> Signer | None:
    """The writer's signer, or None when no key is configured. A configured key that is missing is
    an error (a deployment provides its key; `aftersales up` creates the embedded one)."""
    return None if settings.checkpoint_key is None else load_signer(settings.checkpoint_key)


def verifier_for(settings: Settings) -> Verifier | None:
    return load_verifier(settings.checkpoint_public_key, settings.checkpoint_key)
