"""sink.opcua against asyncua's own server on loopback (write mode), and as a server itself (serve mode)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest
from linekit import OpcuaServer, free_port, read_opcua, wait_for
from sinkkit import feed, make_node, rendered_detections

from segflow.engine import NodeError
from segflow.engine.node import RunContext
from segflow.nodes.sinks.opcua import OpcuaSink, coerce

FAST = {"backoff_initial_s": 0.05, "backoff_max_s": 0.2, "timeout_s": 2.0, "drain_timeout_s": 5.0}
NS = OpcuaServer.NAMESPACE


@pytest.fixture(scope="module")
def running_scada() -> Iterator[OpcuaServer]:
    server = OpcuaServer().start()  # asyncua loads its address space in seconds: one server for the module
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def scada(running_scada: OpcuaServer) -> OpcuaServer:
    running_scada.writes.clear()
    return running_scada


def test_variables_get_the_frame_figures_in_the_servers_own_types(scada, tmp_path: Path) -> None:
    node = make_node(
        OpcuaSink, tmp_path, endpoint=scada.endpoint, namespace=NS, only_when="count(class == stone) > 0", **FAST,
        variables=[
            {"node": "s=Line1.Reject", "pulse_ms": 50},
            {"node": "s=Line1.Count", "value": "count(class == stone)"},
            {"node": scada.node_id("LengthMm"), "value": "max(length_mm)"},  # a full node id works too
            {"node": "s=Line1.Frame", "value": "frame"},
            {"node": "s=Line1.Label", "value": "'stone seen'"},
        ],
    )
    try:
        feed(node, 4, rendered_detections())
        dets = rendered_detections()
        feed(node, 5, dets[dets.data["class_name"] == "bean"])  # no stone: nothing written
        wait_for(lambda: scada.values("Reject") == [True, False], what="the pulse to end")
    finally:
        node.close()
    assert scada.values("Count") == [2] and scada.values("Frame") == [4] and scada.values("Label") == ["stone seen"]
    assert scada.values("LengthMm") == [6.25]
    got = read_opcua(scada.endpoint, [scada.node_id(n) for n in ("Count", "LengthMm", "Reject", "Frame")])
    assert got == [2, 6.25, False, 4] and type(got[0]) is int and type(got[1]) is float
    # one Write request per frame: all variables of the frame landed in the same callback
    times = {t for t, name, _ in scada.writes if name != "Reject" or _ is True}
    assert len(times) == 1


def test_server_down_at_start_then_restarted_mid_run(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    port = free_port()
    scada = OpcuaServer(port)
    endpoint = f"opc.tcp://op:s3cret@127.0.0.1:{port}/line/"
    node = make_node(OpcuaSink, tmp_path, endpoint=endpoint, namespace=NS, **FAST,
                     variables=[{"node": "s=Line1.Frame", "value": "frame"}])
    try:
        for i in range(3):
            feed(node, i, rendered_detections())
        wait_for(lambda: node.sender.last_error is not None, what="a failed connection")
        scada.start()
        wait_for(lambda: scada.values("Frame") == [0, 1, 2], what="the queued writes")
        scada.stop()  # the gateway restarts: the sink's session is gone with it
        for i in range(3, 6):
            feed(node, i, rendered_detections())
        time.sleep(0.2)
        scada.start()
        wait_for(lambda: scada.values("Frame")[-1:] == [5], what="writes after the restart")
    finally:
        node.close()
        scada.close()
    landed = scada.values("Frame")
    assert landed == sorted(landed) and sorted(set(landed)) == list(range(6))
    assert f"opc.tcp://op:***@127.0.0.1:{port}" in caplog.text and "s3cret" not in caplog.text
    assert "reconnected to" in caplog.text


def test_a_type_mismatch_is_refused_and_the_queue_moves_on(scada, tmp_path: Path, caplog) -> None:
    node = make_node(OpcuaSink, tmp_path, endpoint=scada.endpoint, namespace=NS, **FAST,
                     variables=[{"node": "s=Line1.Count", "value": "frame", "type": "Double"}])  # it is an Int32
    before = read_opcua(scada.endpoint, [scada.node_id("Count")])
    try:
        feed(node, 0, rendered_detections())
        wait_for(lambda: node.sender.refused == 1)
    finally:
        node.close()
    assert "refused source 'cam' frame 0: writing s=Line1.Count: BadTypeMismatch" in caplog.text
    assert read_opcua(scada.endpoint, [scada.node_id("Count")]) == before  # the refused write changed nothing


def test_a_value_out_of_range_is_refused_not_wrapped(scada, tmp_path: Path, caplog) -> None:
    node = make_node(OpcuaSink, tmp_path, endpoint=scada.endpoint, namespace=NS, **FAST,
                     variables=[{"node": "s=Line1.Frame", "value": -3}])  # UInt32
    try:
        feed(node, 0, rendered_detections())
        wait_for(lambda: node.sender.refused == 1)
    finally:
        node.close()
    assert "variable s=Line1.Frame: -3 does not fit UInt32" in caplog.text


def test_serve_mode_holds_the_variables_for_any_client(tmp_path: Path) -> None:
    port = free_port()
    endpoint = f"opc.tcp://127.0.0.1:{port}/segflow/"
    node = make_node(OpcuaSink, tmp_path, workflow="line7", mode="serve", endpoint=endpoint, object="Sorter", **FAST,
                     variables=[{"node": "Reject", "pulse_ms": 60_000},
                                {"node": "Stones", "value": "count(class == stone)", "type": "Int32"},
                                {"node": "Longest", "value": "max(length_mm)"}])
    try:
        ids = ["ns=2;s=Sorter.Reject", "ns=2;s=Sorter.Stones", "ns=2;s=Sorter.Longest"]
        assert read_opcua(endpoint, ids) == [False, 0, 0.0]
        feed(node, 0, rendered_detections())
        wait_for(lambda: node.sender.delivered == 1)
        got = read_opcua(endpoint, ids)
        with pytest.raises(NodeError, match=f"cannot serve on opc.tcp://127.0.0.1:{port}/segflow/") as busy:
            make_node(OpcuaSink, tmp_path, mode="serve", endpoint=endpoint, **FAST, variables=[{"node": "Reject"}])
    finally:
        node.close()  # ends the minute-long pulse before the server stops
    assert got == [True, 2, 6.25] and type(got[1]) is int
    assert "another process may use the port" in busy.value.hint
    with pytest.raises(OSError):  # closed: nothing listens any more
        read_opcua(endpoint, ids[:1])


@pytest.mark.parametrize(
    ("value", "variant", "expected"),
    [(1, "Boolean", True), (2.6, "Int32", 3), (7, "Double", 7.0), (3, "String", "3"), (-1, "UInt16", None),
     (70_000, "Int16", None), (float("nan"), "Float", None), ("x", "Int32", None)],
)
def test_coerce(value, variant, expected) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            coerce(value, variant)
    else:
        got = coerce(value, variant)
        assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"variables": [{"node": "ns=2;s=X"}]}, None),
        ({"endpoint": "http://plc:4840", "variables": [{"node": "x"}]}, "not an OPC UA endpoint"),
        ({"mode": "serve", "variables": [{"node": "A"}, {"node": "A"}]}, "distinct names"),
        ({"variables": [{"node": "x", "value": "confidence"}]}, r"max\(confidence\)"),
        ({"variables": []}, "at least 1 item"),
    ],
)
def test_params(params, error) -> None:
    if error is None:
        OpcuaSink.Params(**params)
    else:
        with pytest.raises(pydantic.ValidationError, match=error):
            OpcuaSink.Params(**params)


def test_an_unset_password_variable_is_reported_before_the_run(monkeypatch) -> None:
    monkeypatch.delenv("OPCUA_PASSWORD", raising=False)
    params = OpcuaSink.Params(username="op", password="${OPCUA_PASSWORD}", variables=[{"node": "ns=2;s=X"}])
    (problem,) = OpcuaSink.check_params(params, RunContext())
    assert problem.field == "password" and "${OPCUA_PASSWORD}" in problem.message
