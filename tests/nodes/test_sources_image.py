"""source.image: order, skipping of bad files, loop, timestamps and parameter checks."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from segflow.engine import NodeError
from segflow.engine.api import loads
from segflow.engine.node import RunContext
from segflow.nodes.sources.image import ImageSource, list_candidates, natural_key


def make_node(tmp_path: Path, **params) -> ImageSource:
    node = ImageSource("imgs", ImageSource.Params(**params), RunContext(workflow_name="t", base_dir=tmp_path))
    node.setup()
    return node


def write_levels(folder: Path, names_levels: dict[str, int]) -> None:
    """Real photo (coins) with a per-file grey offset so each frame is identifiable."""
    folder.mkdir(parents=True, exist_ok=True)
    coins = cv2.resize(data.coins(), (64, 48))
    for name, level in names_levels.items():
        img = np.full((48, 64, 3), level, np.uint8)
        img[:, :32] = coins[:, :32, None]
        assert cv2.imwrite(str(folder / name), img)


def levels(frames) -> list[int]:
    return [int(f.pixels[0, 63, 0]) for f in frames]


def test_folder_natural_order_and_types(tmp_path):
    write_levels(tmp_path / "shots", {"img10.png": 100, "img2.png": 20, "img1.png": 10})
    node = make_node(tmp_path, path="shots")
    frames = list(node.frames())
    assert levels(frames) == [10, 20, 100]
    assert [f.index for f in frames] == [0, 1, 2]
    assert all(f.source_id == "imgs" and f.pixels.shape == (48, 64, 3) for f in frames)
    assert all(f.pixels.dtype == np.uint8 for f in frames)
    assert frames[0].meta["path"].endswith("img1.png")
    assert node.total_frames() == 3 and node.skipped_count == 0


def test_glob_single_file_and_recursive(tmp_path):
    write_levels(tmp_path / "a", {"x1.png": 1, "x2.jpg": 2})
    write_levels(tmp_path / "a" / "sub", {"x3.png": 3})
    assert levels(make_node(tmp_path, path="a/*.png").frames()) == [1]
    # whole paths in natural order: a/sub/x3.png sorts before a/x1.png
    assert levels(make_node(tmp_path, path="a/**/*.png").frames()) == [3, 1]
    assert levels(make_node(tmp_path, path=str(tmp_path / "a" / "x1.png")).frames()) == [1]
    assert len(list(make_node(tmp_path, path="a").frames())) == 2
    assert len(list(make_node(tmp_path, path="a", recursive=True).frames())) == 3


def test_non_images_and_corrupt_files_are_skipped_counted_and_logged(tmp_path, caplog):
    folder = tmp_path / "mixed"
    write_levels(folder, {"01.png": 10, "03.png": 30})
    (folder / "02.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (folder / "notes.txt").write_text("operator notes")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / ".DS_Store").write_bytes(b"\0\0")  # hidden: ignored silently
    caplog.set_level(logging.WARNING)
    node = make_node(tmp_path, path="mixed")
    frames = list(node.frames())
    assert levels(frames) == [10, 30]
    assert node.skipped_count == 3
    reasons = {s.path.name: s.reason for s in node.skipped}
    assert set(reasons) == {"02.png", "notes.txt", "empty.jpg"}
    assert "not an image" in reasons["notes.txt"] and "decoded" in reasons["02.png"]
    # meta counts skips so far: notes.txt, 02.png come before 03.png; empty.jpg after
    assert [f.meta["skipped"] for f in frames] == [1, 2]
    assert "02.png" in caplog.text and "3 file(s) skipped" in caplog.text


def test_all_unreadable_is_a_clear_error(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.jpg").write_bytes(b"garbage")
    node = make_node(tmp_path, path="bad", loop=True)
    with pytest.raises(NodeError, match="no readable image"):
        list(node.frames())


def test_loop_and_fps_timestamps(tmp_path):
    write_levels(tmp_path / "s", {"a.png": 1, "b.png": 2})
    node = make_node(tmp_path, path="s", loop=True, fps=4)
    assert node.total_frames() is None
    gen = node.frames()
    frames = [next(gen) for _ in range(5)]
    assert levels(frames) == [1, 2, 1, 2, 1]
    assert [f.timestamp for f in frames] == [0.0, 0.25, 0.5, 0.75, 1.0]
    node.context.stop_event.set()
    assert list(gen) == []


def test_mtime_timestamps(tmp_path):
    write_levels(tmp_path / "s", {"a.png": 1})
    os.utime(tmp_path / "s" / "a.png", (1_700_000_000, 1_700_000_000))
    (frame,) = make_node(tmp_path, path="s").frames()
    assert frame.timestamp == 1_700_000_000


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("shots", None),
        ("shots/*.png", None),
        ("shots/img1.png", None),
        ("nowhere", "nowhere matches no file"),
        ("shots/*.tif", "*.tif matches no file"),
        ("docs", "no image"),
    ],
)
def test_check_params(tmp_path, path, problem):
    write_levels(tmp_path / "shots", {"img1.png": 1})
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.md").write_text("x")
    ctx = RunContext(base_dir=tmp_path)
    problems = ImageSource.check_params(ImageSource.Params(path=path), ctx)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].field == "path"
        assert problem in problems[0].message


def test_natural_key_and_listing(tmp_path):
    names = ["b10.png", "b9.png", "A1.png", "b1.png"]
    assert sorted((Path(n) for n in names), key=natural_key) == [
        Path("A1.png"),
        Path("b1.png"),
        Path("b9.png"),
        Path("b10.png"),
    ]
    assert list_candidates("missing/*.png", tmp_path) == []


def test_a_broken_link_in_the_folder_is_reported_and_counted(tmp_path, caplog):
    import cv2
    import numpy as np

    from segflow.engine.node import RunContext
    from segflow.nodes.sources.image import ImageSource

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "b.png").symlink_to(tmp_path / "gone.png")
    node = ImageSource("src", ImageSource.Params(path=str(tmp_path)), RunContext(base_dir=tmp_path))
    node.setup()
    frames = list(node.frames())
    assert len(frames) == 1 and node.skipped_count == 1
    assert node.skipped[0].path.name == "b.png" and "broken link" in node.skipped[0].reason
    assert "b.png" in caplog.text


def test_records_of_a_folder_of_images_name_each_file(tmp_path):
    """Run through the executor: each record says which image it came from, so results match files."""
    folder = tmp_path / "shots"
    folder.mkdir()
    for name, value in (("b_dark.png", 40), ("a_light.png", 200)):
        cv2.imwrite(str(folder / name), np.full((24, 32, 3), value, np.uint8))
    workflow = loads(f"""version: 1
name: files
nodes:
  shots: {{type: source.image, params: {{path: {folder}}}}}
  stats: {{type: debug.stats, inputs: {{image: shots.image}}}}
  log: {{type: sink.jsonl, params: {{path: {tmp_path / 'out.jsonl'}}}, inputs: {{value: stats.value}}}}
""", base_dir=tmp_path)
    workflow.run()
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["file_name"], r["file"]) for r in records] == [
        ("a_light.png", str(folder / "a_light.png")), ("b_dark.png", str(folder / "b_dark.png"))]
