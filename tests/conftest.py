"""Shared fixtures: real private servers (tests/servers.py)."""

from tests.servers import influxdb, make_mosquitto, mosquitto, postgres_server, postgres_url

__all__ = ["influxdb", "make_mosquitto", "mosquitto", "postgres_server", "postgres_url"]
