"""sink.modbus against pymodbus' own TCP server on loopback: a reject gate, registers, outages."""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest
from linekit import ModbusServer, free_port, wait_for
from sinkkit import feed, make_node, rendered_detections

from segflow.engine import NodeError
from segflow.nodes.sinks.modbus import ModbusSink, to_registers

FAST = {"backoff_initial_s": 0.02, "backoff_max_s": 0.1, "timeout_s": 1.0, "drain_timeout_s": 5.0}


@pytest.fixture
def plc() -> Iterator[ModbusServer]:
    server = ModbusServer().start()
    try:
        yield server
    finally:
        server.close()


def beans_only():
    dets = rendered_detections()
    return dets[dets.data["class_name"] == "bean"]


def test_reject_gate_is_pulsed_on_frames_with_a_stone_and_registers_hold_the_figures(plc, tmp_path: Path) -> None:
    node = make_node(
        ModbusSink, tmp_path, port=plc.port, only_when="class == stone", **FAST,
        writes=[
            {"coil": 3, "pulse_ms": 80},
            {"register": 10, "value": "count(class == stone)"},
            {"register": 11, "value": "max(length_mm)", "scale": 100},
            {"register": 20, "value": "mean(length_mm)", "data_type": "float32"},
            {"register": 30, "value": "frame", "data_type": "uint32"},
        ],
    )
    try:
        feed(node, 0, rendered_detections())  # two stones (5.0 and 6.25 mm) and a bean
        feed(node, 1, beans_only())  # no stone: nothing written
        wait_for(lambda: plc.values("coil", 3) == [[True], [False]], what="the pulse to end")
        feed(node, 2, rendered_detections())
        wait_for(lambda: len(plc.values("coil", 3)) == 4, what="the second pulse")
    finally:
        node.close()
    assert plc.values("register", 10) == [[2], [2]]
    assert plc.values("register", 11) == [[625], [625]]
    mean = struct.unpack(">f", struct.pack(">HH", *plc.values("register", 20)[0]))[0]
    assert mean == pytest.approx((5.0 + 4.5 + 6.25) / 3)
    assert plc.values("register", 30) == [[0, 0], [0, 2]]  # frames 0 and 2; frame 1 had no stone
    coil = [(t, v[0]) for t, k, a, v in plc.writes if k == "coil" and a == 3]
    assert [v for _, v in coil] == [True, False, True, False]
    assert coil[1][0] - coil[0][0] >= 0.08 and coil[3][0] - coil[2][0] >= 0.08  # never shorter than pulse_ms
    assert node.sender.delivered == 2 and node.sender.refused == 0


def test_a_pulse_is_retriggered_and_ended_at_stop(plc, tmp_path: Path) -> None:
    node = make_node(ModbusSink, tmp_path, port=plc.port, **FAST, writes=[{"coil": 0, "pulse_ms": 60_000}])
    feed(node, 0, rendered_detections())
    feed(node, 1, rendered_detections())
    wait_for(lambda: len(plc.values("coil", 0)) == 2)
    node.close()  # a minute-long pulse: the stop must not leave the gate open
    assert plc.values("coil", 0) == [[True], [True], [False]]


def test_server_down_at_start_then_up(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    plc = ModbusServer(free_port())
    node = make_node(ModbusSink, tmp_path, port=plc.port, **FAST, writes=[{"register": 5, "value": "frame"}])
    try:
        for i in range(5):
            feed(node, i, rendered_detections())  # returns at once: the graph never waits for the PLC
        wait_for(lambda: node.sender.last_error is not None, what="a failed connection attempt")
        plc.start()
        wait_for(lambda: len(plc.values("register", 5)) == 5, what="the queued writes")
        feed(node, 5, rendered_detections())
        wait_for(lambda: len(plc.values("register", 5)) == 6)
    finally:
        node.close()
        plc.close()
    assert plc.values("register", 5) == [[i] for i in range(6)]
    assert f"modbus://127.0.0.1:{plc.port} unit 1: cannot connect" in caplog.text
    assert "reconnected to" in caplog.text


def test_server_restart_mid_run_keeps_order(plc, tmp_path: Path) -> None:
    node = make_node(ModbusSink, tmp_path, port=plc.port, **FAST, writes=[{"register": 7, "value": "frame"}])
    try:
        for i in range(30):
            if i == 10:
                wait_for(lambda: len(plc.values("register", 7)) == 10)
                plc.stop()
            if i == 20:
                plc.start()
            feed(node, i, rendered_detections())
            time.sleep(0.005)
        wait_for(lambda: plc.values("register", 7)[-1:] == [[29]], what="the last frame")
    finally:
        node.close()
    landed = [v[0] for v in plc.values("register", 7)]
    assert sorted(set(landed)) == list(range(30)) and landed == sorted(landed)


def test_writes_older_than_max_age_are_dropped_not_written_late(tmp_path: Path) -> None:
    plc = ModbusServer(free_port())
    node = make_node(ModbusSink, tmp_path, port=plc.port, **FAST, max_age_s=0.2,
                     writes=[{"coil": 1, "pulse_ms": 50}, {"register": 1, "value": "frame"}])
    try:
        for i in range(3):
            feed(node, i, rendered_detections())
        time.sleep(0.3)  # the PLC is away for longer than max_age_s
        plc.start()
        feed(node, 3, rendered_detections())
        wait_for(lambda: plc.values("coil", 1) == [[True], [False]])
    finally:
        node.close()
        plc.close()
    assert plc.values("register", 1) == [[3]]
    assert node.sender.expired == 3


def test_queue_size_drops_the_oldest(tmp_path: Path) -> None:
    plc = ModbusServer(free_port())
    node = make_node(ModbusSink, tmp_path, port=plc.port, **FAST, queue_size=3,
                     writes=[{"register": 2, "value": "frame"}])
    try:
        for i in range(8):
            feed(node, i, rendered_detections())
        wait_for(lambda: node.sender.last_error is not None)
        plc.start()
        wait_for(lambda: plc.values("register", 2)[-1:] == [[7]])
    finally:
        node.close()
        plc.close()
    landed = [v[0] for v in plc.values("register", 2)]
    assert landed[-3:] == [5, 6, 7] and len(landed) <= 4  # the one in the sender's hands may also land
    assert node.sender.overflowed >= 4


def test_an_address_the_plc_refuses_is_dropped_and_the_queue_moves_on(plc, tmp_path: Path, caplog) -> None:
    node = make_node(ModbusSink, tmp_path, port=plc.port, **FAST,
                     writes=[{"register": ModbusServer.REGISTERS + 100, "value": "frame"}, {"coil": 2}])
    try:
        feed(node, 0, rendered_detections())
        wait_for(lambda: node.sender.refused == 1)
    finally:
        node.close()
    assert "refused source 'cam' frame 0: register 356: Modbus exception 2" in caplog.text


def test_a_value_that_does_not_fit_is_an_error_on_its_frame(plc, tmp_path: Path) -> None:
    node = make_node(ModbusSink, tmp_path, port=plc.port, **FAST,
                     writes=[{"register": 0, "value": "max(length_mm)", "scale": 100_000}])
    try:
        with pytest.raises(NodeError, match=r"register 0 = 'max\(length_mm\)': 625000 does not fit uint16") as info:
            feed(node, 0, rendered_detections())
    finally:
        node.close()
    assert "int32" in info.value.hint


@pytest.mark.parametrize(
    ("value", "data_type", "order", "words"),
    [(7, "uint16", "big", [7]), (-2, "int16", "big", [0xFFFE]), (70_000, "uint32", "big", [1, 4464]),
     (70_000, "uint32", "little", [4464, 1]), (-1, "int32", "big", [0xFFFF, 0xFFFF]),
     (1.5, "float32", "big", [0x3FC0, 0]), (2.4, "uint16", "big", [2]),
     (65_536, "uint16", "big", None), (-1, "uint32", "big", None), (float("nan"), "float32", "big", None)],
)
def test_to_registers(value, data_type, order, words) -> None:
    if words is None:
        with pytest.raises(ValueError):
            to_registers(value, data_type, order)
    else:
        assert to_registers(value, data_type, order) == words


@pytest.mark.parametrize(
    ("writes", "error"),
    [
        ([{"coil": 0, "pulse_ms": 300}], None),
        ([{"register": 4, "value": "count(class == stone)", "data_type": "int32"}], None),
        ([{"coil": 0, "register": 1}], "exactly one of coil or register"),
        ([{"value": 1}], "exactly one of coil or register"),
        ([{"register": 1, "pulse_ms": 100}], "pulse_ms is for coils"),
        ([{"register": 1, "value": "length_mm"}], r"write max\(length_mm\)"),
        ([{"register": 1, "value": "median(length_mm)"}], "unknown function 'median'"),
        ([{"coil": 70000}], "less than or equal to 65535"),
        ([], "at least 1 item"),
    ],
)
def test_write_params(writes, error) -> None:
    if error is None:
        ModbusSink.Params(writes=writes)
    else:
        with pytest.raises(pydantic.ValidationError, match=error):
            ModbusSink.Params(writes=writes)
