"""The real-server fixtures start what they claim: a broker that relays, an InfluxDB that stores, a PostgreSQL."""

from __future__ import annotations

import subprocess
import urllib.parse
import urllib.request

import pytest

from tests.servers import InfluxDB, Mosquitto, PostgresServer

pytestmark = pytest.mark.integration


def test_mosquitto_relays_retained_messages_across_a_restart(mosquitto: Mosquitto) -> None:
    pub = ["mosquitto_pub", "-h", mosquitto.host, "-p", str(mosquitto.port), "-q", "1", "-r",
           "-t", "sl/v1/t/d/status", "-m", '{"status":"online"}']
    subprocess.run(pub, check=True, timeout=10)
    mosquitto.restart()
    sub = ["mosquitto_sub", "-h", mosquitto.host, "-p", str(mosquitto.port), "-t", "sl/v1/t/d/status",
           "-C", "1", "-W", "5"]
    out = subprocess.run(sub, check=True, capture_output=True, text=True, timeout=10).stdout
    assert out.strip() == '{"status":"online"}'


def test_influxdb_stores_and_answers_influxql(influxdb: InfluxDB) -> None:
    line = b"lighting_cabinet,site=t,device=c1 circuit1_level_pct=40 1700000000000"
    req = urllib.request.Request(f"{influxdb.url}/write?db={influxdb.database}&precision=ms", data=line,
                                 method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204
    result = influxdb.query('SELECT last("circuit1_level_pct") FROM "lighting_cabinet" WHERE "device" = \'c1\'')
    series = result["results"][0]["series"][0]  # type: ignore[index]
    assert series["values"][0][1] == 40


def test_postgres_gives_fresh_databases(postgres_server: PostgresServer, postgres_url: str) -> None:
    name = urllib.parse.urlparse(postgres_url).path.lstrip("/")
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(postgres_server.port), "-U", "postgres", "-d", name,
                          "-tAc", "select count(*) from pg_tables where schemaname = 'public'"],
                         check=True, capture_output=True, text=True, timeout=10).stdout
    assert out.strip() == "0"
