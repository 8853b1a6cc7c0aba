"""Hardware-in-the-loop suite: the system as separate processes, black-box over the wire and the API."""

from tests.servers import influxdb, make_mosquitto, mosquitto, postgres_server, postgres_url

__all__ = ["influxdb", "make_mosquitto", "mosquitto", "postgres_server", "postgres_url"]
