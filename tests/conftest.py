"""Shared fixtures: real private servers (tests/servers.py)."""

from tests.servers import influxdb, mosquitto, postgres_server, postgres_url

__all__ = ["influxdb", "mosquitto", "postgres_server", "postgres_url"]
