import io

from segflow.engine.frame import PacketInfo
from segflow.engine.observe.metrics import NodeMetrics, RunReport
from segflow.engine.observe.progress import Progress


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def drive(stream, total):
    progress = Progress(stream, interval_s=0.0, log_interval_s=0.0)
    progress.on_start(workflow_name="w", total_frames=total)
    for n in range(1, 5):
        progress.on_packet_done(info=PacketInfo("cam", n, 0.0), values={}, frames_done=n)
    progress.on_end(report=RunReport("w"))
    return stream.getvalue()


def test_terminal_gets_a_live_bar_with_eta():
    out = drive(FakeTTY(), total=8)
    assert "\r[" in out and "4/8 frames" in out and "ETA" in out
    assert "\n" not in out  # redrawn in place


def test_logs_get_plain_lines_without_a_total():
    out = drive(io.StringIO(), total=None)
    lines = out.strip().splitlines()
    assert lines[-1].startswith("segflow: 4 frames") and "ETA" not in out and "\r" not in out


def test_metrics_summary_and_table():
    m = NodeMetrics("det", "detect.yolo")
    for n, s in [(4, 0.010), (4, 0.020), (2, 0.030), (4, 0.040)]:
        m.record(n, s)
    summary = m.summary()
    assert summary["mean_batch"] == 3.5 and summary["items"] == 14
    assert summary["p50_ms"] == 30.0 and summary["p95_ms"] == 40.0
    assert summary["items_per_s"] == 140.0
    report = RunReport("w", frames=14, elapsed_s=2.0, nodes=[m])
    table = report.table()
    assert "det" in table and "3.5" in table and "7.0 FPS" in table
