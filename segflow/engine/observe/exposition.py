"""Prometheus' text exposition format (version 0.0.4), written with the standard library.

A monitoring stack scrapes plain text: ``# HELP`` and ``# TYPE`` per metric
family, then one ``name{label="value"} number`` line per series. Histograms
are cumulative ``_bucket`` lines ending at ``le="+Inf"``, then ``_sum`` and
``_count``. Nothing here knows about runs or nodes; :mod:`segflow.engine.observe.monitor`
fills the families.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Labels = Mapping[str, str]


def escape_label(value: str) -> str:
    """A label value as the format wants it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(str(v))}"' for k, v in labels.items()) + "}"


@dataclass
class Family:
    """One metric family: its name, type, help line and samples."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    help: str
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def add(self, labels: Labels, value: float) -> None:
        """A counter or gauge sample (a counter's name ends in ``_total``)."""
        self.samples.append((self.name, dict(labels), value))

    def add_histogram(self, labels: Labels, bounds: Sequence[float], counts: Sequence[int], total: float) -> None:
        """A histogram from per-bucket counts (one per bound, then one past the last) and the sum.

        ``_count`` is the ``+Inf`` bucket, so the two agree even when the counts
        are read while a worker updates them.
        """
        running = 0
        for bound, count in zip(bounds, counts, strict=False):
            running += count
            self.samples.append((f"{self.name}_bucket", {**labels, "le": format_value(float(bound))}, running))
        running += sum(counts[len(bounds):])
        self.samples.append((f"{self.name}_bucket", {**labels, "le": "+Inf"}, running))
        self.samples.append((f"{self.name}_sum", dict(labels), total))
        self.samples.append((f"{self.name}_count", dict(labels), running))


def render(families: Iterable[Family]) -> str:
    """The exposition text of ``families``, ending with a newline."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {family.help.replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        lines.extend(f"{name}{_labels(labels)} {format_value(value)}" for name, labels, value in family.samples)
    return "\n".join(lines) + "\n"
