"""Who may publish what on NATS (shared/runtime/natsauth.py): pure, checked subject by subject."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.events.subjects import SERVICES, Names
from shared.runtime.natsauth import (
    USERS,
    CredentialsError,
    NatsCredentials,
    password_variable,
    permissions,
    users_conf,
    write_run_credentials,
)
from shared.runtime.settings import Settings, SettingsError


def matches(subject: str, pattern: str) -> bool:
    """NATS wildcard matching of a concrete subject."""
    tokens, wanted = subject.split("."), pattern.split(".")
    for i, want in enumerate(wanted):
        if want == ">":
            return len(tokens) > i
        if i >= len(tokens) or (want != "*" and tokens[i] != want):
            return False
    return len(tokens) == len(wanted)


@pytest.fixture(params=["", "t0123456789"], ids=["production", "namespaced"])
def names(request: pytest.FixtureRequest) -> Names:
    return Names(request.param)


def may_publish(names: Names, user: str, subject: str) -> bool:
    return any(matches(subject, p) for p in permissions(names)[user].publish)


def may_subscribe(names: Names, user: str, subject: str) -> bool:
    return any(matches(subject, p) for p in permissions(names)[user].subscribe)


def test_matches() -> None:
    assert matches("a.b.c", "a.>")
    assert matches("a.b", "a.*")
    assert not matches("a", "a.>")
    assert not matches("a.b.c", "a.*")


def test_telephony_publishes_telephony_only(names: Names) -> None:
    assert may_publish(names, "telephony", names.complaint_received)
    assert may_publish(names, "telephony", names.survey_completed)
    for forged in (names.event("dispatch", "TechnicianAssigned"), names.event("intake", "ComplaintRegistered"),
                   names.commands("dispatch"), names.clock_tick, names.deadletter("telephony"),
                   "$JS.API.STREAM.DELETE.TELEPHONY"):  # fmt: skip
        assert not may_publish(names, "telephony", forged), forged
    if names.namespace:  # another namespace's (a test run's) subjects are out of reach
        assert not may_publish(names, "telephony", "telephony.complaint.received")


def test_each_service_publishes_only_its_own_events(names: Names) -> None:
    for service in SERVICES:
        for other in SERVICES:
            event = names.event(other, "Something")
            assert may_publish(names, service, event) == (other == service), (service, event)
        assert not may_publish(names, service, names.complaint_received)
        assert not may_publish(names, service, names.clock_tick)
        assert may_publish(names, service, names.deadletter(service))
        for store in SERVICES:  # a relay anchors its own store's chain, nobody else's
            assert may_publish(names, service, names.checkpoints(store)) == (store == service)
        assert may_publish(names, service, "_INBOX.abc.1"), "replies to the commands it serves"
    assert may_publish(names, "intake-relay", names.event("intake", "ComplaintRegistered"))
    assert may_publish(names, "intake", names.deadletter("telephony"))
    assert not may_publish(names, "dispatch", names.deadletter("telephony"))


def test_only_the_api_sends_commands(names: Names) -> None:
    for service in ("intake", "dispatch", "parts", "calendar"):
        subject = names.commands(service)
        senders = {user for user in USERS if may_publish(names, user, subject)}
        assert senders == ({"api", "ops"} if service == "calendar" else {"api"}), subject


def test_the_clock_has_its_own_user(names: Names) -> None:
    assert {user for user in USERS if may_publish(names, user, names.clock_tick)} == {"clock", "ops"}
    assert permissions(names)["clock"].publish == (names.clock_tick,)


def test_no_process_can_rewrite_a_stream(names: Names) -> None:
    stream = names.events_stream("intake")
    for user in USERS:
        if user == "ops":
            continue
        for op in ("STREAM.DELETE", "STREAM.PURGE", "STREAM.UPDATE", "STREAM.MSG.DELETE"):
            assert not may_publish(names, user, f"$JS.API.{op}.{stream}"), (user, op)
    assert not may_publish(names, "api", f"$JS.API.STREAM.CREATE.{stream}")
    assert not may_publish(names, "dispatch", f"$JS.API.CONSUMER.DURABLE.CREATE.{names.telephony_stream}.x")
    assert not may_publish(names, "intake", "$JS.API.STREAM.INFO.OTHERNS_AFTERSALES_INTAKE")


def test_commands_are_read_only_by_the_service_that_serves_them(names: Names) -> None:
    assert may_subscribe(names, "intake", names.commands("intake"))
    assert may_subscribe(names, "intake", names.commands("calendar"))
    assert not may_subscribe(names, "reporting", names.commands("dispatch"))
    assert not may_subscribe(names, "parts", names.commands("dispatch"))
    assert not may_subscribe(names, "telephony", names.complaint_received)


def test_the_deploy_config_takes_passwords_from_the_environment() -> None:
    text = users_conf(Names())
    for user in USERS:
        assert f"password: ${password_variable(user)}," in text
    assert password_variable("intake-relay") == "NATS_PASSWORD_INTAKE_RELAY"


def test_run_credentials_are_private_and_differ(tmp_path: Path) -> None:
    conf, files = write_run_credentials(tmp_path / "creds", Names())
    assert set(files) == set(USERS)
    read = {user: NatsCredentials.read(path) for user, path in files.items()}
    assert len({c.password for c in read.values()}) == len(USERS)
    for user, creds in read.items():
        assert creds.user == user
        assert f'"{creds.password}"' in conf
        assert files[user].stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "creds").stat().st_mode & 0o777 == 0o700
    again, _ = write_run_credentials(tmp_path / "creds", Names())
    assert again != conf, "new passwords at every start"


def test_settings_read_credentials_from_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "intake.credentials"
    NatsCredentials("intake", "s3cret").write(path)
    env = {"NATS_URL": "nats://x:4222", "DATABASE_URL": "postgresql://x/y", "AFTERSALES_NATS_CREDENTIALS": str(path)}
    assert Settings.from_env(env).nats_options == {"user": "intake", "password": "s3cret"}
    del env["AFTERSALES_NATS_CREDENTIALS"]
    assert Settings.from_env(env).nats_options == {}, "no setting: connect as before, without a user"
    path.write_text("no colon\n")
    with pytest.raises(SettingsError, match="user:password"):
        Settings.from_env({**env, "AFTERSALES_NATS_CREDENTIALS": str(path)})
    with pytest.raises(CredentialsError):
        NatsCredentials.read(tmp_path / "missing")
    assert os.access(path, os.R_OK)
