"""``sink.*``: where a workflow's results go, durably.

Files (JSONL, CSV), a SQL database, annotated video and images, a webhook, an
MQTT broker and the console. They share the gate (``every_n_frames``,
``cooldown_s``, ``only_when``), batching (``batch_size``,
``flush_interval_s``) and the record format, in :mod:`segflow.delivery.common`,
:mod:`segflow.delivery.records` and :mod:`segflow.delivery.base`.
"""
