"""``sink.*``: where a workflow's results go, durably.

Files (JSONL, CSV), a SQL database, annotated video and images, a webhook, an
MQTT broker, the console and the line outputs (Modbus, OPC UA). Every one
passes frames through the one gate (``every_n_frames``, ``cooldown_s``,
``only_when``: :mod:`segflow.delivery.gate`); the record sinks share one base,
one typed record per frame and one meaning of ``batch_size`` and
``flush_interval_s`` (:mod:`segflow.delivery.base`, :mod:`segflow.delivery.records`).
"""
