"""The deployment files agree with the code: Dockerfile, docker-compose.yml and deploy/.

Pure: nothing here connects to NATS or PostgreSQL. The expected streams and consumers are taken from
the code (`stream_configs()`, the services' routers, `consumer_config()`), so a stream, subscriber or
limit changed in the code without the matching change in deploy/ fails here.
"""

from __future__ import annotations

import datetime as dt
import enum
import importlib
import importlib.util
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from faststream.nats import NatsBroker

from aftersales.cli import HARD_STOP_S, cmd_run
from aftersales.cli import SERVICES as PROCESSES
from aftersales.cli import parser as cli_parser
from aftersales.processes import PROCESSES as UP_PROCESSES
from shared.events.subjects import SERVICES, Names
from shared.runtime.natsauth import SERVICE_USERS, permissions, users_conf
from shared.runtime.service import Ports, ServiceRuntime
from shared.runtime.settings import Settings, postgres_env
from shared.runtime.streams import DUPLICATE_WINDOW_S, stream_configs

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
STREAM_FILES = DEPLOY / "jetstream" / "streams"
CONSUMER_FILES = DEPLOY / "jetstream" / "consumers"
REPLICAS = 3
NATS_NODES = ("nats-1", "nats-2", "nats-3")

# Fields a stream file may spell out beyond what nats-py sends: the server's defaults, nothing else.
UNLIMITED = {
    "max_consumers": -1,
    "max_msgs": -1,
    "max_bytes": -1,
    "max_age": 0,
    "max_msgs_per_subject": -1,
    "max_msg_size": -1,
}


def wire(config: Any) -> dict[str, Any]:
    """A nats-py config as the JetStream API (and so the `nats` CLI's --config) spells it."""
    return {k: v.value if isinstance(v, enum.Enum) else v for k, v in config.as_dict().items()}


def load_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


EXPECTED_STREAMS: dict[str, dict[str, Any]] = {str(c.name): wire(c) for c in stream_configs(Names(), replicas=REPLICAS)}


# --------------------------------------------------------------------------- consumers in the code


async def _no_tick(now: dt.datetime) -> None:
    return None


def _consumers_of(broker: NatsBroker) -> dict[tuple[str, str], dict[str, Any]]:
    """(stream, durable) -> the consumer nats-py's `pull_subscribe` would create for each subscriber."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    subscribers: list[Any] = list(broker.subscribers)  # faststream's JetStream subscribers
    for sub in subscribers:
        if getattr(sub, "stream", None) is None:
            continue  # core NATS (request/reply): no stream, no consumer
        config = wire(sub.config)
        durable = config["durable_name"]
        # pull_subscribe names the consumer after the durable and filters on the subscribed subject.
        config["name"] = durable
        config["filter_subject"] = sub.subject.broker_address
        found[(sub.stream.name, durable)] = config
    return found


def production_consumers() -> dict[tuple[str, str], dict[str, Any]]:
    """Every durable the services' routers subscribe with (as aftersales/specs.py wires them)."""
    names = Names()
    broker = NatsBroker("nats://127.0.0.1:4222")  # described only, never connected
    for service in SERVICES:
        module_name = f"services.{service}.handlers"
        if importlib.util.find_spec(module_name) is None:
            continue
        handlers = importlib.import_module(module_name)
        if hasattr(handlers, "build_router"):
            broker.include_router(handlers.build_router(None, Ports(names), names, 500))
    return _consumers_of(broker)


def clock_consumers() -> dict[tuple[str, str], dict[str, Any]]:
    """The `<service>-clock` durables a service creates when it runs with AFTERSALES_CLOCK=external."""
    settings = Settings(nats_url="nats://127.0.0.1:4222", database_url="postgresql:///unused", clock="external")
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for service in SERVICES:
        runtime = ServiceRuntime(settings, service, None, None, Ports(settings.names), _no_tick, run_relay=False)
        found.update(_consumers_of(runtime.broker))
    return found


PRODUCTION_CONSUMERS = production_consumers()
KNOWN_CONSUMERS = {**clock_consumers(), **PRODUCTION_CONSUMERS}


def subject_within(subject: str, pattern: str) -> bool:
    """Whether every subject matched by `subject` (which may hold wildcards) is matched by `pattern`."""
    tokens, wanted = subject.split("."), pattern.split(".")
    for i, want in enumerate(wanted):
        if want == ">":
            return len(tokens) > i
        if i >= len(tokens) or tokens[i] == ">":
            return False
        if want != "*" and tokens[i] != want:
            return False
    return len(tokens) == len(wanted)


def test_subject_within() -> None:
    assert subject_within("aftersales.intake.>", "aftersales.intake.>")
    assert subject_within("aftersales.intake.ComplaintRegistered", "aftersales.intake.>")
    assert subject_within("a.b", "a.*")
    assert not subject_within("aftersales.>", "aftersales.intake.>")
    assert not subject_within("aftersales.intake", "aftersales.intake.>")
    assert not subject_within("a.*", "a.b")
    assert not subject_within("a.b.c", "a.*")


def test_the_code_has_consumers_to_check() -> None:
    assert ("TELEPHONY", "intake-telephony") in PRODUCTION_CONSUMERS
    assert {durable for _, durable in KNOWN_CONSUMERS} >= {f"{s}-clock" for s in SERVICES}


# --------------------------------------------------------------------------- streams


def test_stream_files_are_exactly_the_streams_of_the_code() -> None:
    files = sorted(STREAM_FILES.glob("*.json"))
    declared = {load_json(path)["name"] for path in files}
    assert declared == set(EXPECTED_STREAMS), (
        f"missing in deploy/: {sorted(set(EXPECTED_STREAMS) - declared)}, "
        f"not in the code: {sorted(declared - set(EXPECTED_STREAMS))}"
    )
    assert len(files) == len(declared), "two files declare the same stream"
    misnamed = [p.name for p in files if p.stem != load_json(p)["name"]]
    assert not misnamed, f"a stream file is named after its stream: {misnamed}"


@pytest.mark.parametrize("name", sorted(EXPECTED_STREAMS))
def test_stream_file_matches_stream_configs(name: str) -> None:
    path = STREAM_FILES / f"{name}.json"
    assert path.exists(), f"{path.relative_to(ROOT)} is missing for stream {name} of stream_configs()"
    declared = load_json(path)
    expected = EXPECTED_STREAMS[name]
    for field, value in expected.items():
        assert declared.get(field) == value, f"{name}.{field}: deploy has {declared.get(field)!r}, code {value!r}"
    extra = {k: v for k, v in declared.items() if k not in expected}
    assert extra == {k: UNLIMITED[k] for k in extra if k in UNLIMITED}, f"{name}: fields the code does not set"
    # The production shape deploy/README.md describes, spelled out.
    assert declared["num_replicas"] == REPLICAS
    assert declared["retention"] == "limits"
    assert declared["storage"] == "file"
    assert declared["duplicate_window"] == 120_000_000_000 == round(DUPLICATE_WINDOW_S * 1e9)


# --------------------------------------------------------------------------- consumers


def consumer_files() -> list[Path]:
    return sorted(CONSUMER_FILES.glob("*.json"))


def test_there_are_consumer_files() -> None:
    assert consumer_files()


@pytest.mark.parametrize("path", consumer_files(), ids=lambda p: p.name)
def test_consumer_file_is_one_the_code_subscribes_with(path: Path) -> None:
    stream, _, durable = path.stem.partition(".")
    declared = load_json(path)
    assert stream in EXPECTED_STREAMS, f"{path.name}: no stream {stream} in stream_configs()"
    assert declared.get("durable_name") == durable, f"{path.name}: the file is named <STREAM>.<durable>.json"
    assert (stream, durable) in KNOWN_CONSUMERS, f"{path.name}: the code has no durable {durable} on {stream}"
    assert declared == KNOWN_CONSUMERS[(stream, durable)]
    assert any(subject_within(declared["filter_subject"], s) for s in EXPECTED_STREAMS[stream]["subjects"])
    assert declared["ack_policy"] == "explicit"
    assert declared["deliver_policy"] == "all"
    assert declared["ack_wait"] == 10_000_000_000
    if durable == "intake-telephony":  # idempotent on call_id: order does not matter
        assert declared["max_ack_pending"] == 20_000
    else:  # position-tracking consumers need in-order delivery: one batch unacknowledged at most
        assert declared["max_ack_pending"] <= 500


@pytest.mark.parametrize("key", sorted(PRODUCTION_CONSUMERS), ids=lambda k: f"{k[0]}.{k[1]}")
def test_every_consumer_of_the_code_has_a_file(key: tuple[str, str]) -> None:
    stream, durable = key
    assert stream in EXPECTED_STREAMS, f"{durable} subscribes to {stream}, which stream_configs() does not create"
    path = CONSUMER_FILES / f"{stream}.{durable}.json"
    assert path.exists(), f"{path.relative_to(ROOT)} is missing"


# --------------------------------------------------------------------------- NATS cluster


def nats_conf(node: str) -> str:
    return (DEPLOY / "nats" / f"{node}.conf").read_text(encoding="utf-8")


def block(text: str, name: str) -> str:
    """The body of a top-level `name { ... }` block (no nested braces in these files' blocks)."""
    found = re.search(rf"^{name}\s*[:=]?\s*\{{(.*?)^\}}", text, re.MULTILINE | re.DOTALL)
    assert found, f"no {name} block"
    return found.group(1)


def uncommented(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def test_one_conf_per_node() -> None:
    assert sorted(p.stem for p in (DEPLOY / "nats").glob("nats-*.conf")) == list(NATS_NODES)
    assert len(NATS_NODES) >= REPLICAS


@pytest.mark.parametrize("node", NATS_NODES)
def test_nats_conf_is_a_jetstream_cluster_node(node: str) -> None:
    text = uncommented(nats_conf(node))
    assert re.search(rf"^server_name\s*[:=]\s*{node}\s*$", text, re.MULTILINE)
    assert re.search(r"^listen\s*[:=]\s*\S*:4222\s*$", text, re.MULTILINE)
    assert re.search(r"^\s*store_dir\s*[:=]\s*\S+", block(text, "jetstream"), re.MULTILINE)
    cluster = block(text, "cluster")
    assert re.search(r"^\s*name\s*[:=]\s*aftersales\s*$", cluster, re.MULTILINE)
    assert re.search(r"^\s*listen\s*[:=]\s*\S*:6222\s*$", cluster, re.MULTILINE)
    routes = re.findall(r"nats-route://([\w.-]+):6222", cluster)
    assert sorted(routes) == list(NATS_NODES)


@pytest.mark.parametrize("node", NATS_NODES)
def test_nats_node_has_users_and_tls(node: str) -> None:
    text = uncommented(nats_conf(node))
    assert re.search(r'^include\s+"users\.conf"\s*$', text, re.MULTILINE), "the users of users.conf"
    assert "password" not in text.lower(), "no secret in a node's file"
    client_tls = block(text, "tls")
    for key in ("cert_file", "key_file", "ca_file"):
        assert re.search(rf"^\s*{key}\s*[:=]\s*\S+", client_tls, re.MULTILINE), f"client tls {key}"
    cluster = block(text, "cluster")
    route_tls = re.search(r"tls\s*\{(.*?)\}", cluster, re.DOTALL)
    assert route_tls, "the routes use TLS"
    assert re.search(r"^\s*verify\s*[:=]\s*true\s*$", route_tls.group(1), re.MULTILINE), "mutual TLS between nodes"
    assert not list((DEPLOY / "nats").glob("*key*")), "private keys are never committed"


def test_nats_users_conf_is_generated_from_the_code() -> None:
    """deploy/nats/users.conf is what `aftersales nats-config` writes (run it after changing natsauth.py)."""
    committed = (DEPLOY / "nats" / "users.conf").read_text(encoding="utf-8")
    assert committed == users_conf(Names()), "deploy/nats/users.conf is stale: run `aftersales nats-config`"
    assert "$NATS_PASSWORD_TELEPHONY" in committed


def test_every_process_of_up_has_its_nats_user() -> None:
    assert set(UP_PROCESSES) == set(SERVICE_USERS) | {"api"}
    assert set(UP_PROCESSES) <= set(permissions(Names()))


@pytest.mark.parametrize("key", sorted(KNOWN_CONSUMERS), ids=lambda k: f"{k[0]}.{k[1]}")
def test_every_consumer_of_the_code_is_one_its_user_may_create_and_ack(key: tuple[str, str]) -> None:
    stream, durable = key
    service = durable.split("-", 1)[0]
    allowed = permissions(Names())[service].publish
    for needed in (f"$JS.API.CONSUMER.CREATE.{stream}.{durable}.x", f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
                   f"$JS.ACK.{stream}.{durable}.1.1.1.1.0"):  # fmt: skip
        assert any(subject_within(needed, pattern) for pattern in allowed), f"{service} may not {needed}"


# --------------------------------------------------------------------------- docker


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services: dict[str, Any] = data["services"]
    return services


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def test_compose_runs_every_process_from_one_image(compose: dict[str, Any]) -> None:
    assert set(PROCESSES) <= set(compose), f"missing: {sorted(set(PROCESSES) - set(compose))}"
    builds = {json.dumps(compose[p].get("build"), sort_keys=True) for p in PROCESSES}
    images = {compose[p].get("image") for p in PROCESSES}
    assert builds == {json.dumps(".")}
    assert len(images) == 1


@pytest.mark.parametrize("process", PROCESSES)
def test_compose_process(compose: dict[str, Any], process: str) -> None:
    service = compose[process]
    assert service["command"] == ["run", process]
    env = environment(service)
    assert env["NATS_URL"] == "nats://nats:4222"
    settings = Settings.from_env(env)
    database = postgres_env(settings.database_url)
    assert database["POSTGRES_HOST"] == "postgres"
    assert database["POSTGRES_DBNAME"] == environment(compose["postgres"])["POSTGRES_DB"]
    depends = service["depends_on"]
    assert depends["nats"]["condition"] == "service_healthy"
    assert depends["postgres"]["condition"] == "service_healthy"


def test_compose_api_listens_on_8080(compose: dict[str, Any]) -> None:
    api = compose["api"]
    settings = Settings.from_env(environment(api))
    assert settings.http_host == "0.0.0.0"
    assert settings.http_port == 8080
    assert any(str(port).endswith(":8080") for port in api["ports"])


def test_compose_nats_and_postgres(compose: dict[str, Any]) -> None:
    nats = compose["nats"]
    assert nats["image"].startswith("nats:")
    command = nats["command"] if isinstance(nats["command"], list) else nats["command"].split()
    assert "-js" in command
    assert nats["volumes"]
    assert nats["healthcheck"]
    postgres = compose["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert postgres["volumes"]
    assert postgres["healthcheck"]


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    assert "requirements.lock" in text
    assert re.search(r"pip install --no-deps\b.* \.", text)
    assert re.search(r'^ENTRYPOINT \["aftersales"\]\s*$', text, re.MULTILINE)
    assert re.search(r'^CMD \["run", "api"\]\s*$', text, re.MULTILINE)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "aftersales" in pyproject["project"]["scripts"]
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert re.search(rf"^COPY {package} ", text, re.MULTILINE), f"the image lacks {package}/"


# --------------------------------------------------------------------------- systemd

SYSTEMD = DEPLOY / "systemd"


def unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file as {section: {key: [values]}} (keys may repeat; comments dropped)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def seconds(value: str) -> float:
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|min)?", value)
    assert found, f"not a systemd time span this test reads: {value!r}"
    return float(found.group(1)) * {"ms": 0.001, "s": 1.0, "min": 60.0, None: 1.0}[found.group(2)]


def test_one_systemd_unit_per_process_of_up() -> None:
    units = sorted(p.name for p in SYSTEMD.glob("*.service"))
    assert units == sorted(f"aftersales-{name}.service" for name in UP_PROCESSES)


@pytest.mark.parametrize("name", sorted(UP_PROCESSES))
def test_systemd_unit_runs_the_process_up_runs_and_restarts_it(name: str) -> None:
    sections = unit(SYSTEMD / f"aftersales-{name}.service")
    service = {k: v[-1] for k, v in sections["Service"].items()}
    executable, *argv = shlex.split(service["ExecStart"])
    assert Path(executable).name == "aftersales"
    assert tuple(argv) == UP_PROCESSES[name]
    parsed = cli_parser().parse_args(argv)  # a real `aftersales run …` command line
    assert parsed.func is cmd_run
    assert service["Restart"] == "always"
    assert 0 < seconds(service["RestartSec"]) <= 10
    assert seconds(service["RestartMaxDelaySec"]) >= seconds(service["RestartSec"])
    # Longer than the service's own bound on stopping, so SIGKILL is never the normal way out.
    assert seconds(service["TimeoutStopSec"]) > HARD_STOP_S
    assert service.get("KillSignal", "SIGTERM") == "SIGTERM"
    assert service["EnvironmentFile"].lstrip("-") == "/etc/aftersales/aftersales.env"
    # A service started during an outage exits; it must be started again, however often that happens.
    assert sections["Unit"]["StartLimitIntervalSec"] == ["0"]
    assert sections["Unit"]["PartOf"] == ["aftersales.target"]
    assert sections["Install"]["WantedBy"] == ["aftersales.target"]


@pytest.mark.parametrize("name", sorted(UP_PROCESSES))
def test_systemd_unit_connects_as_its_own_nats_user(name: str) -> None:
    service = unit(SYSTEMD / f"aftersales-{name}.service")["Service"]
    assert service["LoadCredential"] == [f"nats:/etc/aftersales/nats/{name}.credentials"]
    assert service["Environment"] == ["AFTERSALES_NATS_CREDENTIALS=%d/nats"]
    assert name in permissions(Names()), f"no NATS user {name} in users.conf"


def test_systemd_target_wants_every_unit() -> None:
    wants = unit(SYSTEMD / "aftersales.target")["Unit"]["Wants"]
    assert sorted(" ".join(wants).split()) == sorted(f"aftersales-{name}.service" for name in UP_PROCESSES)


def test_systemd_environment_file_is_settings_the_code_reads() -> None:
    env: dict[str, str] = {}
    for line in (SYSTEMD / "aftersales.env").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    settings = Settings.from_env(env)
    assert settings.clock == "wall"
    assert settings.stream_replicas == REPLICAS
    assert postgres_env(settings.database_url)["POSTGRES_HOST"] != "127.0.0.1"
    known = {"NATS_URL", "DATABASE_URL", "AFTERSALES_CLOCK", "AFTERSALES_HTTP_HOST", "AFTERSALES_HTTP_PORT",
             "AFTERSALES_NAMESPACE", "AFTERSALES_BATCH_SIZE", "AFTERSALES_STREAM_REPLICAS",
             "AFTERSALES_CHECKPOINT_KEY", "SSL_CERT_FILE", "AFTERSALES_METRICS_PUBLIC"}  # fmt: skip
    assert settings.checkpoint_key == env["AFTERSALES_CHECKPOINT_KEY"]  # the audit chain's signing key, outside the DB
    assert set(env) <= known, f"not read by Settings.from_env: {sorted(set(env) - known)}"
    assert "AFTERSALES_NAMESPACE" not in env  # production has no namespace (README)
