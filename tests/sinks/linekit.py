"""Real line-side servers on loopback for the line-output tests and the bench.

``ModbusServer`` is pymodbus' own TCP server; ``OpcuaServer`` is asyncua's
own server. Each runs in a thread with its own event loop, records every
write that lands (with ``time.perf_counter()`` on arrival) and can be stopped
and started again on the same port, like a PLC being power-cycled.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class LoopThread:
    """An asyncio loop in a daemon thread; ``call`` runs a coroutine there and waits for it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Any, timeout: float = 20.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class ModbusServer:
    """pymodbus' TCP server: 256 coils and 256 holding registers of unit 1, every write logged."""

    COILS = 256
    REGISTERS = 256

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.writes: list[tuple[float, str, int, list[Any]]] = []  # (arrival, "coil"|"register", address, values)
        self._loop = LoopThread()
        self._server: Any = None

    async def _action(self, function_code, start_address, address, count, current_registers, set_values):
        if set_values is not None and function_code in (5, 15):
            self.writes.append((time.perf_counter(), "coil", address, list(set_values)))
        elif set_values is not None and function_code in (6, 16):
            self.writes.append((time.perf_counter(), "register", address, list(set_values)))
        return None

    def start(self) -> ModbusServer:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        async def start() -> Any:
            device = SimDevice(id=1, action=self._action, simdata=(
                [SimData(0, count=self.COILS, values=False, datatype=DataType.BITS)],
                [SimData(0, count=8, values=False, datatype=DataType.BITS)],
                [SimData(0, count=self.REGISTERS, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=8, values=0, datatype=DataType.REGISTERS)],
            ))
            server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
            await server.serve_forever(background=True)
            return server

        self._server = self._loop.call(start())
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._loop.call(self._server.shutdown())
            self._server = None

    def close(self) -> None:
        self.stop()
        self._loop.close()

    def values(self, kind: str, address: int) -> list[list[Any]]:
        """Every value written to one coil or register block, in arrival order."""
        return [v for _, k, a, v in self.writes if k == kind and a == address]


class OpcuaServer:
    """asyncua's server with an object ``Line1`` holding typed variables; every client write logged."""

    NAMESPACE = "urn:segflow:test-line"
    VARIABLES = {"Reject": ("Boolean", False), "Count": ("Int32", 0), "LengthMm": ("Double", 0.0),
                 "Frame": ("UInt32", 0), "Label": ("String", "")}

    def __init__(self, port: int | None = None, namespace: str = NAMESPACE) -> None:
        self.port = port or free_port()
        self.namespace = namespace
        self.endpoint = f"opc.tcp://127.0.0.1:{self.port}/line/"
        self.writes: list[tuple[float, str, Any]] = []  # (arrival, browse name, value)
        self.namespace_index = 0
        self._loop = LoopThread()
        self._server: Any = None
        self._names: dict[str, str] = {}

    def _on_write(self, event: Any, dispatcher: Any) -> None:
        now = time.perf_counter()
        for item in event.request_params.NodesToWrite:
            name = self._names.get(item.NodeId.to_string())
            if name is not None:
                self.writes.append((now, name, item.Value.Value.Value))

    def start(self) -> OpcuaServer:
        from asyncua import Server, ua
        from asyncua.common.callback import CallbackType

        async def start() -> Any:
            server = Server()
            await server.init()
            server.set_endpoint(self.endpoint)
            idx = await server.register_namespace(self.namespace)
            line = await server.nodes.objects.add_object(ua.NodeId("Line1", idx), "Line1")
            for name, (kind, initial) in self.VARIABLES.items():
                var = await line.add_variable(ua.NodeId(f"Line1.{name}", idx), name,
                                              ua.Variant(initial, getattr(ua.VariantType, kind)))
                await var.set_writable()
                self._names[var.nodeid.to_string()] = name
            server.subscribe_server_callback(CallbackType.PostWrite, self._on_write)
            await server.start()
            self.namespace_index = idx
            return server

        self._server = self._loop.call(start())
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._loop.call(self._server.stop())
            self._server = None

    def close(self) -> None:
        self.stop()
        self._loop.close()

    def values(self, name: str) -> list[Any]:
        return [v for _, n, v in self.writes if n == name]

    def node_id(self, name: str) -> str:
        return f"ns={self.namespace_index};s=Line1.{name}"


def read_opcua(endpoint: str, node_ids: list[str]) -> list[Any]:
    """Read variables as any OPC UA client would (a fresh asyncua client)."""
    from asyncua import Client

    async def read() -> list[Any]:
        async with Client(endpoint, timeout=5) as client:
            return [await client.get_node(n).read_value() for n in node_ids]

    return asyncio.run(read())
