"""`segflow import roboflow` on real Roboflow Workflows definitions: import, validate, run.

The definitions are Roboflow's own (tests/tools/roboflow_definitions/, copied from
roboflow/inference at the commit in SOURCES.json). Each is imported with the shipped models
standing in for Roboflow's model ids, then loaded (validated) and run on the shipped video or
images, as a user moving a workflow over would. A row says what the user adds (--source, a
class filter the stand-in model lacks, where the SMTP or HTTP server is) and which blocks
the import leaves out; the goal is 9 in 10 of the set running (the closing test counts).
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from segflow.engine.api import load
from segflow.engine.cli import run_command
from segflow.engine.observe.exit_codes import EXIT_OK, EXIT_PARTIAL
from segflow.tools.roboflow_import.command import IMPORT

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = Path(__file__).parent / "roboflow_definitions"
SEG = str(ROOT / "assets/models/coffee-stones-seg.pt")
CLS = str(ROOT / "assets/models/coffee-objects-cls.pt")
VIDEO = str(ROOT / "assets/samples/conveyor.mp4")
IMAGE = str(ROOT / "assets/samples/objects.png")
LINE = [[320, 0], [320, 480]]
ZONE = [[80, 60], [560, 60], [560, 420], [80, 420]]
STONES_ONLY = "classes=null"  # the stand-in model knows stones only: Roboflow's class filter comes off


@dataclass
class Case:
    models: dict[str, str] = field(default_factory=lambda: {"yolov8n-640": SEG, "yolov8n-seg-640": SEG})
    sets: list[str] = field(default_factory=list)
    video: bool = False
    inputs: dict[str, object] = field(default_factory=dict)
    left_out: tuple[str, ...] = ()  # block types the import must report as left out


CASES = {
    "instance_segmentation": Case(models={"model_id": SEG}),
    "object_detection": Case(models={"model_id": SEG}),
    "tracking_trace": Case(video=True, sets=[f"model.{STONES_ONLY}"]),
    "line_counting_aggregation": Case(
        video=True, inputs={"line": LINE, "email": "qa@example.com", "email_password": ""},
        sets=[f"model.{STONES_ONLY}", "email_notifier.host=127.0.0.1", "email_notifier.security=none",
              "email_notifier.password=null", "email_notifier.username=null", "file_sink.path=OUT/report.csv"]),
    "line_counting_webhook": Case(video=True, sets=[f"model.{STONES_ONLY}"], inputs={"line": LINE},
                                  left_out=("roboflow_core/webhook_sink@v1",)),
    "time_in_zone": Case(video=True, sets=[f"people_detector.{STONES_ONLY}"], inputs={"zone": ZONE}),
    "sahi": Case(),
    "sahi_segmentation": Case(),
    "sahi_email_area": Case(sets=[f"detection.{STONES_ONLY}", "email_notification.security=none"]),
    "email_gate": Case(sets=[f"detection.{STONES_ONLY}", "email_notification.security=none"],
                       left_out=("ContinueIf",)),
    "csv_sink_gate": Case(sets=[f"detection.{STONES_ONLY}", "local_file_sink.path=OUT/log.csv"]),
    "masked_crop": Case(inputs={"confidence": 0.3}),
    "detection_classification": Case(models={"yolov8n-640": SEG, "dog-breed-xpaq6/1": CLS},
                                     sets=[f"general_detection.{STONES_ONLY}"]),
    "classes_replacement": Case(models={"yolov8n-640": SEG, "dog-breed-xpaq6/1": CLS},
                                sets=[f"general_detection.{STONES_ONLY}"]),
    "grounded_sam": Case(models={"yolov8n-640": SEG, "sam2/hiera_large": "SAM2"},  # a random-weight tiny SAM 2
                         sets=[f"detection.{STONES_ONLY}",
                               "segment_anything.config=configs/sam2.1/sam2.1_hiera_t.yaml"]),
    "dynamic_zone_perspective": Case(sets=["detections_filter.where=['class == stone']"],
                                     left_out=("roboflow_core/perspective_correction@v1",)),
    "detections_filter": Case(),
    "data_aggregation": Case(models={"yolov8n-640": SEG}),
    "file_sink_aggregation": Case(models={"yolov8n-640": SEG}, sets=["reports_sink.path=OUT/report.csv"]),
    "dominant_color": Case(left_out=("roboflow_core/dominant_color@v1",)),  # max_iterations
    "consensus": Case(),
}


@pytest.fixture(scope="module")
def servers():
    """A loopback SMTP server (aiosmtpd) and HTTP server that accept everything, for the sinks' runs."""
    controller_mod = pytest.importorskip("aiosmtpd.controller")

    class Inbox:
        messages: list[bytes] = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
            self.messages.append(envelope.content)
            return "250 OK"

    with socket.socket() as probe:  # aiosmtpd checks its port by connecting to it: no port 0
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    smtp = controller_mod.Controller(Inbox(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()

    class Accept(http.server.BaseHTTPRequestHandler):
        def _ok(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.end_headers()

        do_POST = do_PUT = _ok  # noqa: N815 (http.server's names)

        def log_message(self, *args):
            pass

    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Accept)
    thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    thread.start()
    try:
        yield smtp_port, f"http://127.0.0.1:{http_server.server_address[1]}"
    finally:
        http_server.shutdown()
        smtp.stop()


@pytest.fixture(scope="module")
def sam2_checkpoint(tmp_path_factory) -> str:
    """The tiny SAM 2.1 with random weights, in Meta's layout (tests/nodes/conftest_models.py makes it)."""
    pytest.importorskip("sam2")
    spec = importlib.util.spec_from_file_location("conftest_models", ROOT / "tests/nodes/conftest_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path_factory.mktemp("sam2") / "sam2.1_random.pt"
    return str(module.random_sam2_checkpoint("configs/sam2.1/sam2.1_hiera_t.yaml", path))


def import_definition(name: str, case: Case, tmp_path: Path, capsys, extra: list[str] = ()) -> tuple[int, str, Path]:
    out = tmp_path / f"{name}.yaml"
    argv = ["roboflow", str(DEFINITIONS / f"{name}.json"), "-o", str(out), "--out-dir", str(tmp_path / "out")]
    for model_id, path in case.models.items():
        argv += ["--model", f"{model_id}={path}"]
    if case.video:
        argv += ["--source", VIDEO]
    for item in [*case.sets, *extra]:
        argv += ["--set", item.replace("OUT", str(tmp_path / "out"))]
    code = run_command("import", IMPORT, argv)
    return code, capsys.readouterr().err, out


def network_sets(yaml_text: str, smtp_port: int, http_url: str) -> list[str]:
    """Point every email and webhook sink of a converted workflow at the loopback servers."""
    sets, node = [], None
    for line in yaml_text.splitlines():
        if line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            node = line.strip()[:-1]
        elif line.strip() == "type: sink.email":
            sets += [f"{node}.port={smtp_port}", f"{node}.drain_timeout_s=5"]
        elif line.strip() == "type: sink.webhook":
            sets += [f"{node}.url={http_url}/{node}", f"{node}.drain_timeout_s=5"]
    return sets


def run_inputs(workflow_text: str, case: Case) -> dict[str, object]:
    values: dict[str, object] = dict(case.inputs)
    if "kind: image" in workflow_text and not case.video:
        values.setdefault("image", IMAGE)
    for name in ("smtp_host",):
        if f"{name}:" in workflow_text:
            values[name] = "127.0.0.1"
    if "smtp_sender:" in workflow_text:
        values["smtp_sender"] = "segflow@example.com"
    return values


RESULTS: dict[str, str] = {}


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_definition_imports_validates_and_runs(name, tmp_path, capsys, monkeypatch, servers, request):
    case = CASES[name]
    if "SAM2" in case.models.values():
        sam = request.getfixturevalue("sam2_checkpoint")
        case = Case(**{**case.__dict__, "models": {k: sam if v == "SAM2" else v for k, v in case.models.items()}})
    RESULTS[name] = "failed"
    monkeypatch.chdir(tmp_path)
    code, said, out = import_definition(name, case, tmp_path, capsys)
    for block in case.left_out:
        assert "left out: step" in said and block in said, said
    assert code in (EXIT_OK, EXIT_PARTIAL), said
    assert "Traceback" not in said
    text = out.read_text()
    code, said, out = import_definition(name, case, tmp_path, capsys, network_sets(text, *servers))
    assert code in (EXIT_OK, EXIT_PARTIAL), said
    text = out.read_text()
    assert all(f"step '{s['name']}'" in text
               for s in json.loads((DEFINITIONS / f"{name}.json").read_text())["steps"]), "a step is unaccounted for"
    workflow = load(out, inputs=run_inputs(text, case))
    report = workflow.run(max_frames=8 if case.video else 1)
    assert report.frames >= 1
    assert report.failures == 0, report.failure_log[:3]
    assert report.exit_code == 0, report.table()
    RESULTS[name] = "ran"


def test_nine_in_ten_run():
    """The issue's bar: at least 9 in 10 of the chosen real definitions import, validate and run."""
    if len(RESULTS) < len(CASES):
        pytest.skip("needs the whole parametrized set above in the same session")
    ran = sorted(name for name, result in RESULTS.items() if result == "ran")
    assert len(ran) >= 0.9 * len(CASES), RESULTS
