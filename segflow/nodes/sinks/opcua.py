"""``sink.opcua``: values to OPC UA variables (asyncua), on a line's server or on one of our own.

``mode: write`` connects to an existing server (a PLC, a SCADA gateway) and
writes the declared variables, all of one frame in one Write request. Each
variable's data type is read from the server once per connection
(``type: auto``), so an ``Int32`` gets an ``Int32`` and not Python's 64-bit
default. ``mode: serve`` runs an asyncua server inside the sink: an object
(``object``) holding one variable per entry, which SCADA or an HMI subscribes
to. Values, gate, queueing, pulses and reconnects are those of every line
output (:mod:`segflow.delivery.line`). A write the server refuses for good
(unknown node, type mismatch, access denied, not writable) is logged and
dropped; any other failure (connection lost, a session the restarted server no
longer knows) reconnects and retries. Passwords in the endpoint or in
``password`` never show in logs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
from collections.abc import Hashable, Sequence
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from segflow.delivery.common import unset_variable
from segflow.delivery.line import LineParams, LineSink, Write
from segflow.delivery.remote import Rejected
from segflow.engine import NodeError, Params, node_type
from segflow.engine.masking import mask, remember_url
from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.workflow.condition_check import LineValue

VariantName = Literal["auto", "Boolean", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64",
                      "Float", "Double", "String"]
INTEGER_RANGES = {"SByte": (-(2**7), 2**7 - 1), "Byte": (0, 2**8 - 1), "Int16": (-(2**15), 2**15 - 1),
                  "UInt16": (0, 2**16 - 1), "Int32": (-(2**31), 2**31 - 1), "UInt32": (0, 2**32 - 1),
                  "Int64": (-(2**63), 2**63 - 1), "UInt64": (0, 2**64 - 1)}
# Status codes that say "this write will never succeed as configured": retrying cannot help.
PERMANENT = {"BadNodeIdUnknown", "BadNodeIdInvalid", "BadTypeMismatch", "BadUserAccessDenied", "BadNotWritable",
             "BadWriteNotSupported", "BadOutOfRange", "BadAttributeIdInvalid", "BadIndexRangeInvalid"}


def coerce(value: Any, variant: str) -> Any:
    """``value`` as the Python value of OPC UA type ``variant``; ValueError when it does not fit."""
    if variant == "Boolean":
        return bool(value)
    if variant == "String":
        return str(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    if variant in INTEGER_RANGES:
        low, high = INTEGER_RANGES[variant]
        whole = round(number)
        if not low <= whole <= high:
            raise ValueError(f"{whole} does not fit {variant} ({low}..{high})")
        return whole
    return number


class OpcuaVariable(Params):
    """One variable and the value it gets on each frame that passes the gate."""

    node: str = Field(
        ...,
        min_length=1,
        description="mode write: the node id, e.g. `ns=2;s=Line1.Reject` (or `s=Line1.Reject` with `namespace`); "
        "mode serve: the variable's name.",
    )
    value: LineValue = Field(
        True,
        description="What to write: a constant (true, 3), `count`, `count(class == stone)`, `frame`, `value.key`, "
        "or `max(length_mm)` / min / mean / sum / first of a detection field.",
    )
    pulse_ms: float = Field(0.0, ge=0, le=600_000, description="Switch back to false (0) after this long (0 = stay).")
    type: VariantName = Field(
        "auto",
        description="OPC UA data type; auto: write mode reads it from the server, serve mode uses Boolean for "
        "pulses and true/false, Double otherwise.",
    )


class OpcuaParams(LineParams):
    mode: Literal["write", "serve"] = Field(
        "write", description="write: to variables of an existing server; serve: run our own server holding them."
    )
    endpoint: str = Field(
        "opc.tcp://127.0.0.1:4840",
        description="write: the server's endpoint URL; serve: where to listen, e.g. opc.tcp://0.0.0.0:4840/segflow/.",
    )
    namespace: str = Field(
        "",
        description="Namespace URI. write: node ids without `ns=` are looked up in it (indexes may change when the "
        "server restarts, URIs do not); serve: the URI of our variables (default urn:segflow:<workflow>).",
    )
    object: str = Field("segflow", min_length=1, description="serve: the name of the object holding the variables.")
    username: str = Field("", description="write: user name, if the server wants one.")
    password: str = Field("", description="write: password; `${VAR}` reads the environment variable VAR.")
    variables: list[OpcuaVariable] = Field(
        ..., min_length=1, description="The variables to set on each frame that passes the gate."
    )

    @field_validator("endpoint")
    @classmethod
    def _opc_tcp(cls, endpoint: str) -> str:
        if not endpoint.startswith("opc.tcp://") or len(endpoint) <= len("opc.tcp://"):
            raise ValueError(f"{mask(endpoint)!r} is not an OPC UA endpoint such as opc.tcp://host:4840")
        return endpoint

    @model_validator(mode="after")
    def _serve_names(self) -> OpcuaParams:
        if self.mode == "serve":
            names = [v.node for v in self.variables]
            if len(set(names)) != len(names):
                raise ValueError(f"variables must have distinct names in serve mode, got {names}")
        return self


class LoopThread:
    """An asyncio loop in a daemon thread: asyncua is async, the sender and ``setup`` are not."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self.loop.close()


def _failure(exc: Exception, what: str) -> Exception:
    """A refusal for good becomes :class:`Rejected`; anything else is a reason to reconnect."""
    name = type(exc).__name__
    if name in PERMANENT:
        return Rejected(f"{what}: {name}")
    return ConnectionError(f"{what}: {name}: {exc}" if str(exc) else f"{what}: {name}")


class OpcuaClientBackend:
    """Writes to an existing server; resolves node ids and data types on each (re)connection."""

    def __init__(self, params: OpcuaParams, loop: LoopThread) -> None:
        self.params = params
        self.loop = loop
        remember_url(params.endpoint)  # its password stays out of every log line, library ones included
        self.shown = mask(params.endpoint)
        self.client: Any = None
        self.nodes: dict[str, tuple[Any, str]] = {}  # spec node -> (asyncua node, variant name)

    def connect(self) -> None:
        self.loop.call(self._connect(), self.params.timeout_s * (2 + len(self.params.variables)))

    async def _connect(self) -> None:
        from asyncua import Client

        p = self.params
        client = Client(p.endpoint, timeout=p.timeout_s)
        if p.username:
            client.set_user(p.username)
            client.set_password(os.path.expandvars(p.password))
        try:
            await client.connect()
        except Exception as exc:
            raise _failure(exc, f"cannot connect to {self.shown}") from exc
        self.client = client
        try:
            prefix = f"ns={await client.get_namespace_index(p.namespace)};" if p.namespace else ""
            for spec in p.variables:
                node_id = spec.node if spec.node.startswith("ns=") or not prefix else prefix + spec.node
                node = client.get_node(node_id)
                variant = spec.type
                if variant == "auto":
                    variant = (await node.read_data_type_as_variant_type()).name
                self.nodes[spec.node] = (node, variant)
        except Exception as exc:
            raise ConnectionError(f"{self.shown}: cannot resolve the variables: {type(exc).__name__} {exc}") from exc

    def write(self, writes: Sequence[tuple[Hashable, Any]]) -> None:
        self.loop.call(self._write(writes), self.params.timeout_s * 2)

    async def _write(self, writes: Sequence[tuple[Hashable, Any]]) -> None:
        from asyncua import ua

        nodes, values = [], []
        for target, value in writes:
            node, variant = self.nodes[str(target)]
            try:
                values.append(ua.DataValue(ua.Variant(coerce(value, variant), getattr(ua.VariantType, variant))))
            except ValueError as exc:
                raise Rejected(f"variable {target}: {exc}") from exc
            nodes.append(node)
        try:
            await self.client.write_values(nodes, values)
        except Exception as exc:
            raise _failure(exc, f"writing {', '.join(str(t) for t, _ in writes)}") from exc

    def disconnect(self) -> None:
        client, self.client = self.client, None
        self.nodes = {}
        if client is not None:
            try:
                self.loop.call(client.disconnect(), self.params.timeout_s * 2)
            except Exception as exc:  # the server is gone: nothing to close politely
                logging.getLogger(__name__).debug("disconnect from %s: %s", self.shown, exc)


class OpcuaServerBackend:
    """Our own asyncua server holding the variables; started in ``setup`` so a busy port fails the run at once."""

    def __init__(self, params: OpcuaParams, loop: LoopThread, namespace: str) -> None:
        self.params = params
        self.loop = loop
        self.namespace = namespace
        self.variables: dict[str, tuple[Any, str]] = {}
        self.server: Any = None

    def start(self) -> None:
        self.loop.call(self._start(), 60.0)

    async def _start(self) -> None:
        from asyncua import Server, ua

        p = self.params
        server = Server()
        await server.init()
        server.set_endpoint(p.endpoint)
        server.set_server_name(f"segflow {p.object}")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        index = await server.register_namespace(self.namespace)
        holder = await server.nodes.objects.add_object(ua.NodeId(p.object, index), p.object)
        for spec in p.variables:
            variant = spec.type
            if variant == "auto":
                variant = "Boolean" if spec.pulse_ms or isinstance(spec.value, bool) or spec.value in (
                    "true", "false") else "Double"
            initial = coerce(0, variant) if variant != "String" else ""
            var = await holder.add_variable(ua.NodeId(f"{p.object}.{spec.node}", index), spec.node,
                                            ua.Variant(initial, getattr(ua.VariantType, variant)))
            self.variables[spec.node] = (var, variant)
        await server.start()
        self.server = server

    def connect(self) -> None:
        """Nothing to connect: the server is ours."""

    def write(self, writes: Sequence[tuple[Hashable, Any]]) -> None:
        self.loop.call(self._write(writes), self.params.timeout_s * 2)

    async def _write(self, writes: Sequence[tuple[Hashable, Any]]) -> None:
        from asyncua import ua

        for target, value in writes:
            var, variant = self.variables[str(target)]
            try:
                data = ua.DataValue(ua.Variant(coerce(value, variant), getattr(ua.VariantType, variant)))
            except ValueError as exc:
                raise Rejected(f"variable {target}: {exc}") from exc
            await var.write_value(data)

    def disconnect(self) -> None:
        """The server stays up until the sink closes."""

    def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            self.loop.call(server.stop(), 30.0)


@node_type("sink.opcua")
class OpcuaSink(LineSink):
    """Write values to OPC UA variables on a line's server, or serve them from our own (asyncua)."""

    Params = OpcuaParams
    params: OpcuaParams

    def setup(self) -> None:
        for name in ("asyncua", "asyncio"):  # asyncua warns per connection attempt; we log each failure once
            if logging.getLogger(name).level == logging.NOTSET:
                logging.getLogger(name).setLevel(logging.CRITICAL if name == "asyncua" else logging.ERROR)
        self._loop = LoopThread(f"opcua-{self.node_id}")
        self._server: OpcuaServerBackend | None = None
        if self.params.mode == "serve":
            namespace = self.params.namespace or f"urn:segflow:{self.context.workflow_name or 'workflow'}"
            server = OpcuaServerBackend(self.params, self._loop, namespace)
            try:
                server.start()
            except Exception as exc:
                self._loop.close()
                raise NodeError(
                    f"sink.opcua '{self.node_id}': cannot serve on {self.target()}: {type(exc).__name__}: {exc}",
                    hint="another process may use the port; choose another one in `endpoint`",
                ) from exc
            self._server = server
        super().setup()

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        unset = unset_variable(params.password)
        if unset:
            return [ParamProblem("password", f"password reads {unset}, which is not set",
                                 "export it before the run")]
        return []

    def target(self) -> str:
        return mask(self.params.endpoint)

    def write_specs(self) -> Sequence[OpcuaVariable]:
        return self.params.variables

    def make_backend(self) -> OpcuaClientBackend | OpcuaServerBackend:
        return self._server if self._server is not None else OpcuaClientBackend(self.params, self._loop)

    def make_write(self, spec: OpcuaVariable, value: Any) -> Write:
        return Write(spec.node, value, spec.pulse_ms / 1000.0, False if spec.pulse_ms else None)

    def close(self) -> None:
        super().close()
        server = getattr(self, "_server", None)
        if server is not None:
            server.stop()
        loop = getattr(self, "_loop", None)
        if loop is not None:
            loop.close()
