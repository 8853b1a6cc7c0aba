"""The import path of the bus that other parts have used; MQTT lives in `gateways.mqtt` (see its package doc)."""

from gateways.mqtt.bus import Bus, Subscription, encode_payload, filter_matches
from gateways.mqtt.config import BusConfig, BusWill

__all__ = ["Bus", "BusConfig", "BusWill", "Subscription", "encode_payload", "filter_matches"]
