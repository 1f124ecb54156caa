"""``sink.modbus``: set coils and holding registers of a PLC over Modbus TCP (pymodbus).

The usual job is a reject gate: a coil pulsed for ``pulse_ms`` when a frame
shows a bad object (``only_when: "class == stone"``), and registers holding a
count or a measurement for the PLC's logic or an HMI. Registers are 16 bits:
32-bit and float values take two (``data_type``), big-endian words unless
``word_order: little``; ``scale`` turns millimetres into tenths for an integer
register. A value that does not fit its register is an error on that frame,
never a silently wrapped number. Connection, queueing, pulses and retries are
those of every line output (:mod:`segflow.delivery.line`).
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Hashable, Sequence
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from segflow.delivery.line import LineParams, LineSink, Write
from segflow.delivery.remote import Rejected
from segflow.engine import NodeError, Params, node_type
from segflow.engine.workflow.condition_check import LineValue

DataType = Literal["uint16", "int16", "uint32", "int32", "float32"]
FORMATS: dict[str, str] = {"uint16": ">H", "int16": ">h", "uint32": ">I", "int32": ">i", "float32": ">f"}


def to_registers(value: float, data_type: str, word_order: str = "big") -> list[int]:
    """``value`` as 16-bit registers; ValueError when it does not fit ``data_type``."""
    fmt = FORMATS[data_type]
    number: float | int = float(value) if data_type == "float32" else round(value)
    if data_type == "float32" and not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    try:
        raw = struct.pack(fmt, number)
    except struct.error as exc:
        raise ValueError(f"{number!r} does not fit {data_type}") from exc
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return words[::-1] if word_order == "little" else words


class ModbusWrite(Params):
    """One coil or holding register and the value it gets on each frame that passes the gate."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)

    coil: int | None = Field(None, ge=0, le=65535, description="Coil address (0-based), e.g. the reject gate.")
    # `register` is the name users write; as an attribute it would shadow ABCMeta.register.
    holding: int | None = Field(None, ge=0, le=65535, alias="register",
                                description="Holding register address (0-based).")
    value: LineValue = Field(
        True,
        description="What to write: a constant (true, 3), `count`, `count(class == stone)`, `frame`, `value.key`, "
        "or `max(length_mm)` / min / mean / sum / first of a detection field.",
    )
    pulse_ms: float = Field(0.0, ge=0, le=600_000, description="Coils: switch back off after this long (0 = stay).")
    data_type: DataType = Field("uint16", description="Registers: how the value is encoded (32-bit types use two).")
    scale: float = Field(1.0, gt=0, description="Registers: multiply before encoding, e.g. 10 for tenths of a mm.")

    @model_validator(mode="after")
    def _one_target(self) -> ModbusWrite:
        if (self.coil is None) == (self.holding is None):
            raise ValueError("give exactly one of coil or register, e.g. {coil: 0, pulse_ms: 300}")
        if self.pulse_ms and self.coil is None:
            raise ValueError("pulse_ms is for coils; a register keeps its last value")
        return self


class ModbusParams(LineParams):
    host: str = Field("127.0.0.1", min_length=1, description="The PLC's or gateway's host name or address.")
    port: int = Field(502, ge=1, le=65535, description="Modbus TCP port.")
    unit: int = Field(1, ge=0, le=255, description="Modbus unit (device) id.")
    word_order: Literal["big", "little"] = Field(
        "big", description="Order of the two registers of a 32-bit value (big: high word first)."
    )
    writes: list[ModbusWrite] = Field(
        ..., min_length=1, description="The coils and registers to set on each frame that passes the gate."
    )


class ModbusBackend:
    """A pymodbus TCP client, used from the sender thread only."""

    def __init__(self, host: str, port: int, unit: int, timeout: float) -> None:
        self.host, self.port, self.unit, self.timeout = host, port, unit, timeout
        self.client: Any = None

    def connect(self) -> None:
        from pymodbus.client import ModbusTcpClient

        client = ModbusTcpClient(self.host, port=self.port, timeout=self.timeout, retries=0)
        if not client.connect():
            client.close()
            raise ConnectionError(f"cannot connect to modbus://{self.host}:{self.port}")
        self.client = client

    def write(self, writes: Sequence[tuple[Hashable, Any]]) -> None:
        from pymodbus.exceptions import ConnectionException, ModbusIOException

        for (kind, address), value in writes:  # type: ignore[misc]
            try:
                if kind == "coil":
                    answer = self.client.write_coil(address, bool(value), device_id=self.unit)
                else:
                    answer = self.client.write_registers(address, value, device_id=self.unit)
            except (ConnectionException, ModbusIOException) as exc:
                raise ConnectionError(str(exc)) from exc
            if answer.isError():
                code = getattr(answer, "exception_code", "?")
                raise Rejected(f"{kind} {address}: Modbus exception {code} (2: no such address, 4: device failure)")

    def disconnect(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


@node_type("sink.modbus")
class ModbusSink(LineSink):
    """Set PLC coils and registers over Modbus TCP, e.g. pulse a reject gate when a stone is seen."""

    Params = ModbusParams
    params: ModbusParams

    def setup(self) -> None:
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # we log each failure once, with the node named
        super().setup()

    def target(self) -> str:
        return f"modbus://{self.params.host}:{self.params.port} unit {self.params.unit}"

    def write_specs(self) -> Sequence[ModbusWrite]:
        return self.params.writes

    def make_backend(self) -> ModbusBackend:
        p = self.params
        return ModbusBackend(p.host, p.port, p.unit, p.timeout_s)

    def make_write(self, spec: ModbusWrite, value: Any) -> Write:
        if spec.coil is not None:
            return Write(("coil", spec.coil), bool(value), spec.pulse_ms / 1000.0, False)
        try:
            words = to_registers(float(value) * spec.scale, spec.data_type, self.params.word_order)
        except (TypeError, ValueError) as exc:
            raise NodeError(
                f"sink.modbus '{self.node_id}': register {spec.holding} = {spec.value!r}: {exc}",
                hint="choose a wider data_type (int32, float32) or a smaller scale",
            ) from exc
        return Write(("register", spec.holding), words)
