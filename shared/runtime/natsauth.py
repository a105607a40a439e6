"""NATS users and subject permissions: one user per process, generated from `Names`.

Who may publish what (subscribing is limited too, so that nobody reads another service's commands):

- `telephony` (the integrator, and `aftersales simulate`): only `telephony.>`;
- `clock` (`aftersales tick`): only the clock subject;
- a service process (`intake`, `intake-relay`, `dispatch`, `parts`, `reporting`): its own events
  `aftersales.<service>.>` and chain checkpoints `aftersales.checkpoints.<service>`, its dead letters,
  replies to the commands it serves (`_INBOX.>`) and the JetStream API it needs on the project's
  streams (see `jetstream_api`);
- `api`: the staff commands `aftersales.cmd.>` (no other user may send them) and read-only JetStream
  (health checks, the calendar feed);
- `ops` (the operator's commands: dead letters, `reporting rebuild`, `audit verify`, `calendar publish`,
  `privacy erase`): JetStream management, dead-letter replay to the original subjects, and
  `aftersales.cmd.calendar` and `aftersales.cmd.privacy` only.

The embedded `aftersales up` writes this with passwords generated at start-up
(`EmbeddedNats.start(..., users=...)`); `deploy/nats/users.conf` is the same text with each password
taken from the environment of the NATS server (`$NATS_PASSWORD_<USER>`), written by
`aftersales nats-config`.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shared.events.subjects import SERVICES, Names
from shared.runtime.streams import stream_configs

INBOX = "_INBOX.>"

COMMANDS_SERVED: dict[str, tuple[str, ...]] = {
    "intake": ("intake", "calendar", "privacy"),
    "dispatch": ("dispatch",),
    "parts": ("parts",),
    "reporting": (),
}
"""The `aftersales.cmd.<name>` subjects each service answers (services/*/handlers.py)."""

SERVICE_USERS: dict[str, str] = {
    "intake": "intake",
    "intake-relay": "intake",
    "dispatch": "dispatch",
    "parts": "parts",
    "reporting": "reporting",
}
"""Process (aftersales.processes.PROCESSES) -> the service whose subjects it publishes."""

USERS: tuple[str, ...] = ("telephony", "clock", *SERVICE_USERS, "api", "ops")


class CredentialsError(ValueError):
    pass


@dataclass(frozen=True)
class NatsCredentials:
    """A NATS user and password: a file holding `user:password` on one line (mode 0600)."""

    user: str
    password: str

    def connect_options(self) -> dict[str, str]:
        """Keyword arguments for `nats.connect` / `NatsBroker`."""
        return {"user": self.user, "password": self.password}

    @classmethod
    def read(cls, path: Path) -> NatsCredentials:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CredentialsError(f"cannot read NATS credentials {path}: {exc.strerror}") from None
        user, sep, password = text.partition(":")
        if not sep or not user or not password or "\n" in text:
            raise CredentialsError(f"{path} must hold one line `user:password`")
        return cls(user, password)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(f"{self.user}:{self.password}\n")
        path.chmod(0o600)


def connect_options(credentials: NatsCredentials | None) -> dict[str, str]:
    return {} if credentials is None else credentials.connect_options()


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


CONSUMES: dict[str, tuple[str, ...]] = {
    "intake": ("telephony", "clock", "intake", "dispatch"),
    "dispatch": ("clock", "dispatch", "intake", "parts"),
    "parts": ("clock", "parts", "dispatch"),
    "reporting": ("clock", "reporting", "intake", "dispatch", "parts"),
}
"""The streams each service reads: its durable consumers (deploy/jetstream/consumers, checked by
tests/unit/test_deploy.py), its own stream (the relay's resync, the calendar feed on intake's) and the
clock (`AFTERSALES_CLOCK=external`)."""


def stream_name(names: Names, stream: str) -> str:
    """`telephony`, `clock`, `deadletter` or a service -> the stream's name."""
    special = {"telephony": names.telephony_stream, "clock": names.clock_stream, "deadletter": names.deadletter_stream}
    return special.get(stream) or names.events_stream(stream)


def _reading(s: str) -> tuple[str, ...]:
    """Look at stream `s`: its messages and its consumers, read-only."""
    return (
        f"$JS.API.STREAM.MSG.GET.{s}",
        f"$JS.API.DIRECT.GET.{s}",
        f"$JS.API.DIRECT.GET.{s}.>",
        f"$JS.API.CONSUMER.INFO.{s}.>",
    )


def _consuming(s: str) -> tuple[str, ...]:
    """Consume stream `s`: create (durable or ordered), pull, acknowledge, flow control, and delete the
    consumer an ordered subscription replaces."""
    return (
        *_reading(s),
        f"$JS.API.CONSUMER.CREATE.{s}",
        f"$JS.API.CONSUMER.CREATE.{s}.>",
        f"$JS.API.CONSUMER.DURABLE.CREATE.{s}.>",
        f"$JS.API.CONSUMER.MSG.NEXT.{s}.>",
        f"$JS.API.CONSUMER.DELETE.{s}.>",
        f"$JS.ACK.{s}.>",
        f"$JS.FC.{s}.>",
    )


def _all_streams(names: Names) -> list[str]:
    return [config.name or "" for config in stream_configs(names)]


def jetstream_api(names: Names, service: str) -> tuple[str, ...]:
    """What a service may ask JetStream: look up every stream of the project and create it if missing
    (`ensure_streams`), and consume the streams it reads (`CONSUMES`). Never delete, purge or update a
    stream, remove a message or touch another namespace's streams: no service can rewrite the log."""
    allowed = ["$JS.API.INFO", "$JS.API.STREAM.NAMES"]
    for s in _all_streams(names):
        allowed += [f"$JS.API.STREAM.INFO.{s}", f"$JS.API.STREAM.CREATE.{s}"]
    for stream in CONSUMES[service]:
        allowed += _consuming(stream_name(names, stream))
    return tuple(allowed)


def api_jetstream(names: Names) -> tuple[str, ...]:
    """The api's health checks read every stream and its consumers; its calendar feed follows intake's."""
    allowed = ["$JS.API.INFO", "$JS.API.STREAM.NAMES"]
    for s in _all_streams(names):
        allowed += [f"$JS.API.STREAM.INFO.{s}", f"$JS.API.CONSUMER.LIST.{s}", f"$JS.API.CONSUMER.NAMES.{s}",
                    *_reading(s)]  # fmt: skip
    allowed += _consuming(names.events_stream("intake"))
    return tuple(dict.fromkeys(allowed))


def _service(names: Names, service: str) -> Permissions:
    own_deadletters = (service, "clock", *(("telephony",) if service == "intake" else ()))
    served = tuple(names.commands(c) for c in COMMANDS_SERVED[service])
    return Permissions(
        publish=(
            names.events_of(service),
            names.checkpoints(service),
            *(names.deadletter(source) for source in own_deadletters),
            INBOX,
            *jetstream_api(names, service),
        ),
        subscribe=(INBOX, *served),
    )


def permissions(names: Names) -> dict[str, Permissions]:
    """Every user's permissions, in a stable order."""
    found: dict[str, Permissions] = {
        "telephony": Permissions(publish=(names.telephony_all,), subscribe=(INBOX,)),
        "clock": Permissions(publish=(names.clock_tick,), subscribe=(INBOX,)),
    }
    for process, service in SERVICE_USERS.items():
        found[process] = _service(names, service)
    found["api"] = Permissions(publish=(names.commands(">"), *api_jetstream(names)), subscribe=(INBOX,))
    found["ops"] = Permissions(
        publish=(
            "$JS.>",  # the whole JetStream API, acknowledgements and flow control (ordered consumers)
            names.telephony_all,
            *(names.events_of(s) for s in SERVICES),
            names.deadletter_all,
            names.clock_tick,
            names.commands("calendar"),
            names.commands("privacy"),  # PII-ERASE: `aftersales privacy erase` (docs/rules.md §11)
        ),
        subscribe=(INBOX,),
    )
    return found


def generate_passwords(users: Sequence[str] = USERS) -> dict[str, NatsCredentials]:
    return {user: NatsCredentials(user, secrets.token_urlsafe(24)) for user in users}


def password_variable(user: str) -> str:
    """The environment variable the deployed NATS server reads a user's password from."""
    return "NATS_PASSWORD_" + user.upper().replace("-", "_")


def users_conf(names: Names, passwords: Mapping[str, str] | None = None) -> str:
    """The `authorization { users: [...] }` block of a nats-server config. Without `passwords`, each
    password is the variable `$NATS_PASSWORD_<USER>`, which nats-server takes from its environment."""
    where = "the server's environment ($NATS_PASSWORD_<USER>)" if passwords is None else "this run (0600)"
    lines = [
        "# Generated by `aftersales nats-config` from shared/runtime/natsauth.py: do not edit by hand.",
        f"# One user per process; passwords come from {where}.",
        "authorization {",
        "  users: [",
    ]
    for user, perms in permissions(names).items():
        password = json.dumps(passwords[user]) if passwords is not None else "$" + password_variable(user)
        lines += [
            f"    {{user: {json.dumps(user)}, password: {password}, permissions: {{",
            "      publish: {allow: [",
            *(f"        {json.dumps(subject)}" for subject in perms.publish),
            "      ]}",
            "      subscribe: {allow: [",
            *(f"        {json.dumps(subject)}" for subject in perms.subscribe),
            "      ]}",
            "    }}",
        ]
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def write_run_credentials(directory: Path, names: Names) -> tuple[str, dict[str, Path]]:
    """Passwords for a run of the embedded server, generated now: each user's credentials file in
    `directory` (mode 0600, directory 0700), and the server's `authorization` block holding them."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    credentials = generate_passwords()
    files: dict[str, Path] = {}
    for user, creds in credentials.items():
        files[user] = directory / f"{user}.credentials"
        creds.write(files[user])
    return users_conf(names, {user: c.password for user, c in credentials.items()}), files
