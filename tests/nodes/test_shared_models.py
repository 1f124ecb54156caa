"""One loaded model per file and device for a process when the run shares models (the editor), none otherwise."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from segflow.engine.execution.session import EditorSession
from segflow.engine.node import RunContext
from segflow.engine.registry import default_registry
from segflow.engine.workflow.validate import validate_text
from segflow.vision.shared_models import SHARED, SharedModels, file_key

ROOT = Path(__file__).resolve().parents[2]


def test_one_load_per_key_freed_by_the_last_user():
    store, loads = SharedModels(), []
    a = store.acquire("k", lambda: loads.append(1) or object())
    b = store.acquire("k", lambda: loads.append(1) or object())
    c = store.acquire("other", object)
    assert a.model is b.model and a.lock is b.lock and c.model is not a.model and loads == [1]
    a.release()
    a.release()  # twice is once
    assert len(store) == 2
    b.release()
    c.release()
    assert len(store) == 0


def test_a_failed_load_leaves_nothing_and_the_next_tries_again():
    store = SharedModels()

    def broken():
        raise RuntimeError("not a model")

    with pytest.raises(RuntimeError):
        store.acquire("k", broken)
    assert len(store) == 0 and store.acquire("k", lambda: 7).model == 7


def test_the_key_follows_the_file_on_disk(tmp_path):
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"one")
    before = file_key(weights)
    weights.write_bytes(b"two, longer")  # a training run rewrote it
    assert file_key(weights) != before and file_key(weights)[0] == str(weights.resolve())


def workflow(model: Path, image: Path, device: str = "cpu") -> str:
    return (f"version: 1\nname: shared\nnodes:\n  photo:\n    type: source.image\n    params: {{path: '{image}'}}\n"
            f"  detect:\n    type: detect.yolo\n    params: {{model: '{model}', device: {device}, imgsz: 320}}\n"
            f"    inputs: {{image: photo.image}}\n")


@pytest.fixture
def files(tmp_path) -> tuple[Path, Path]:
    model = tmp_path / "stones.pt"
    shutil.copyfile(ROOT / "assets/models/coffee-stones-seg.pt", model)
    cap = cv2.VideoCapture(str(ROOT / "assets/samples/conveyor.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 25)
    ok, frame = cap.read()
    cap.release()
    assert ok
    cv2.imwrite(str(tmp_path / "frame.png"), frame)
    return model, tmp_path / "frame.png"


@pytest.mark.timeout(300)
def test_browser_sessions_of_an_editor_share_one_model_and_agree(files):
    model, image = files
    graph = validate_text(workflow(model, image), "wf.yaml", default_registry()).graph
    assert graph is not None
    pixels = cv2.imread(str(image))
    shared = [EditorSession(RunContext(share_models=True), run_sinks=False) for _ in range(3)]
    alone = EditorSession(RunContext(), run_sinks=False)
    try:
        results: list = [None] * 3

        def run(i: int) -> None:  # three sessions at once, as three browser tabs would
            results[i] = shared[i].run_image(graph, pixels)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
        own = alone.run_image(graph, pixels)
        models = [s.live_nodes["detect"].model for s in shared]
        assert models[0] is models[1] is models[2] and alone.live_nodes["detect"].model is not models[0]
        found = [r.outputs["detect"]["detections"] for r in results]
        assert len(found[0]) > 0 and all(np.array_equal(f.xyxy, own.outputs["detect"]["detections"].xyxy)
                                         for f in found)
    finally:
        for session in [*shared, alone]:
            session.close()
    assert len(SHARED) == 0  # the last session to close freed it


@pytest.mark.timeout(300)
def test_rewritten_weights_are_loaded_afresh(files):
    model, image = files
    graph = validate_text(workflow(model, image), "wf.yaml", default_registry()).graph
    pixels = cv2.imread(str(image))
    with EditorSession(RunContext(share_models=True), run_sinks=False) as first:
        first.run_image(graph, pixels)
        shutil.copyfile(ROOT / "assets/models/coffee-stones-seg.pt", model.with_suffix(".tmp"))
        model.with_suffix(".tmp").replace(model)  # the same bytes, a new file: a training run's best.pt
        with EditorSession(RunContext(share_models=True), run_sinks=False) as second:
            second.run_image(graph, pixels)
            assert second.live_nodes["detect"].model is not first.live_nodes["detect"].model
