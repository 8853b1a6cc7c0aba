"""Hardware-in-the-loop suite: the system as separate processes, black-box over the wire and the API."""

from tests.servers import influxdb, mosquitto, postgres_server, postgres_url

__all__ = ["influxdb", "mosquitto", "postgres_server", "postgres_url"]
