"""MQTT, in one home: the project's own asyncio client, used by every part that talks to the broker.

| module | what it does |
|---|---|
| `config.py` | `BusConfig` (endpoints with failover, TLS files, credentials, session, will), `BusWill`, `tls_context` |
| `codec.py` | MQTT 3.1.1/5 frames: encoding what we send, variable integers and properties of what we read |
| `connection.py` | one connection on `asyncio.Protocol`: CONNECT, SUBSCRIBE, PUBLISH QoS 0/1 with ack futures |
|  | and a bounded window, acks, keepalive |
| `reconnect.py` | the one reconnect policy: endpoints in turn, exponential backoff with full jitter, forever |
| `bus.py` | `Bus`: `controllers.bus.BusPort` on that connection (publish, bounded subscriptions, on-connect hooks) |
| `intake.py` | `MqttIntake`: batches for high-rate consumers (the recorder), flow control, manual acks |
"""

from gateways.mqtt.bus import Bus, Subscription, encode_payload, filter_matches
from gateways.mqtt.config import BusConfig, BusWill, Endpoint, parse_broker_url
from gateways.mqtt.connection import BrokerRefusedError, InboundMessage, PublishRefusedError
from gateways.mqtt.intake import MqttIntake

__all__ = ["BrokerRefusedError", "Bus", "BusConfig", "BusWill", "Endpoint", "InboundMessage", "MqttIntake",
           "PublishRefusedError", "Subscription", "encode_payload", "filter_matches", "parse_broker_url"]
