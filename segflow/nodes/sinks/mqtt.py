"""``sink.mqtt``: one message per record to an MQTT broker, QoS 1, spooled while it is away.

Topics come from a template (``segflow/{workflow}/{source}``). paho-mqtt's
network thread keeps the connection and reconnects; our sender (see
:mod:`segflow.delivery.remote`) publishes a batch only while connected and commits
it once the broker has acknowledged every message (PUBACK), so a broker that
is down or restarting only delays records: they wait in the spool and go out
in order. A message may arrive twice (resent after a lost acknowledgement);
its ``record_id`` lets the consumer keep one.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, field_validator

from segflow.delivery.records import dumps
from segflow.delivery.remote import RemoteParams, RemoteSink
from segflow.engine import node_type
from segflow.engine.text import check_template

TOPIC_FIELDS = {"workflow": "w", "source": "s", "node": "n"}


class MqttParams(RemoteParams):
    host: str = Field("127.0.0.1", min_length=1, description="The broker's host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="The broker's port (8883 for TLS).")
    topic: str = Field(
        "segflow/{workflow}/{source}",
        description="Topic of each record; `{workflow}`, `{source}` and `{node}` are filled in.",
    )
    qos: Literal[0, 1, 2] = Field(1, description="MQTT quality of service (1: at least once).")
    retain: bool = Field(False, description="Ask the broker to keep the last message of each topic.")
    username: str = Field("", description="User name, if the broker wants one.")
    password: str = Field("", description="Password; `${VAR}` reads the environment variable VAR.")
    tls: bool = Field(False, description="Connect with TLS (system CA certificates).")
    client_id: str = Field("", description="MQTT client id (default: segflow-<workflow>-<node id>).")
    keepalive_s: int = Field(30, ge=5, le=3600, description="Seconds between keep-alive pings.")
    ack_timeout_s: float = Field(10.0, gt=0, le=600, description="Longest wait for the broker to acknowledge a batch.")

    @field_validator("topic")
    @classmethod
    def _topic_template(cls, topic: str) -> str:
        check_template(topic, "topic", TOPIC_FIELDS)
        if "#" in topic or "+" in topic or not topic.strip("/"):
            raise ValueError(f"topic {topic!r}: a publish topic has no wildcards (# +) and is not empty")
        return topic


def topic_part(text: str) -> str:
    """A source or workflow name made safe as one topic level."""
    return "".join("_" if c in "#+/" else c for c in text) or "_"


@node_type("sink.mqtt")
class MqttSink(RemoteSink):
    """Publish each record as JSON to an MQTT broker (QoS 1), spooling while it is unreachable."""

    Params = MqttParams
    params: MqttParams

    def target(self) -> str:
        return f"mqtt://{self.params.host}:{self.params.port}"

    def open(self) -> None:
        import paho.mqtt.client as mqtt

        p = self.params
        client_id = p.client_id or f"segflow-{self.context.workflow_name or 'workflow'}-{self.node_id}"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if p.username:
            client.username_pw_set(p.username, os.path.expandvars(p.password) or None)
        if p.tls:
            client.tls_set()
        client.reconnect_delay_set(
            min_delay=p.backoff_initial_s,  # type: ignore[arg-type]  # paho accepts seconds as float
            max_delay=max(p.backoff_max_s, p.backoff_initial_s),  # type: ignore[arg-type]
        )
        client.connect_async(p.host, p.port, keepalive=p.keepalive_s)
        client.loop_start()
        self.client = client
        self._workflow = topic_part(self.context.workflow_name or "workflow")

    def write(self, records: list[dict[str, Any]]) -> None:
        import paho.mqtt.client as mqtt

        client = self.client
        if not client.is_connected():
            raise ConnectionError(f"not connected to {self.target()}")
        p = self.params
        sent = []
        for record in records:
            topic = p.topic.format(workflow=self._workflow, source=topic_part(record["source"]), node=self.node_id)
            info = client.publish(topic, dumps(record), qos=p.qos, retain=p.retain)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise ConnectionError(f"publish to {self.target()} failed: {mqtt.error_string(info.rc)}")
            sent.append(info)
        for info in sent:
            try:
                info.wait_for_publish(p.ack_timeout_s)
            except (RuntimeError, ValueError) as exc:
                raise ConnectionError(f"publish to {self.target()} failed: {exc}") from exc
            if not info.is_published():
                raise TimeoutError(f"{self.target()} did not acknowledge within {p.ack_timeout_s:g} s")

    def shutdown(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.disconnect()
            client.loop_stop()
            self.client = None
