"""Paths in params are checked as paths: a located validation error, never a crash, a hang or a 2 MB message."""

import os

import pytest

from segflow.engine.workflow.validate import validate_text

CAM = "  cam: {type: source.test_pattern, params: {frames: 3}}\n"
NODES = {
    "video": ("  v: {type: source.video, params: {path: '{p}'}}\n"
              "  rec: {type: debug.record, params: {path: out.jsonl}, inputs: {image: v.image}}\n", "v", "path"),
    "jsonl": (CAM + "  log: {type: sink.jsonl, params: {path: '{p}'}, inputs: {image: cam.image}}\n", "log",
              "path"),
    "csv": (CAM + "  log: {type: sink.csv, params: {path: '{p}'}, inputs: {image: cam.image}}\n", "log", "path"),
    "sql": (CAM + "  db: {type: sink.sql, params: {database: '{p}'}, inputs: {image: cam.image}}\n", "db",
            "database"),
    "record": (CAM + "  rec: {type: debug.record, params: {path: '{p}'}, inputs: {image: cam.image}}\n", "rec",
               "path"),
    "images": (CAM + "  crops: {type: sink.images, params: {folder: '{p}'}, inputs: {image: cam.image}}\n",
               "crops", "folder"),
    "webhook": (CAM + "  hook: {type: sink.webhook, params: {url: 'http://127.0.0.1:9/x', spool_dir: '{p}'}, "
                "inputs: {image: cam.image}}\n", "hook", "spool_dir"),
    "yolo": (CAM + "  det: {type: detect.yolo, params: {model: '{p}'}, inputs: {image: cam.image}}\n"
             "  rec: {type: debug.record, params: {path: out.jsonl}, inputs: {image: cam.image}}\n", "det",
             "model"),
}


def check(kind: str, path: str):
    body, node, field = NODES[kind]
    result = validate_text("version: 1\nname: t\nnodes:\n" + body.replace("{p}", path), "wf.yaml")
    return result, node, field


def fifo(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


BAD = {
    "too long": (lambda tmp: tmp / ("x" * 300 + ".mp4"), "255"),
    "too long folder": (lambda tmp: tmp / ("d" * 2_000_000) / "out.jsonl", "255"),
    "a FIFO": (fifo, "FIFO"),
    "a device": (lambda tmp: "/dev/full", "device"),
}
FILE_KINDS = ["video", "jsonl", "csv", "sql", "record", "yolo"]


@pytest.mark.parametrize("kind", FILE_KINDS + ["images", "webhook"])
@pytest.mark.parametrize("case", list(BAD))
def test_hostile_paths_are_located_errors(tmp_path, kind, case):
    make, words = BAD[case]
    result, node, field = check(kind, str(make(tmp_path)))
    errors = [i for i in result.issues if i.is_error]
    assert [(i.code, i.node, i.field) for i in errors] == [("param.check", node, field)]
    assert errors[0].location.line == (4 if kind == "video" else 5)
    assert words in errors[0].message or (case == "a device" and kind in ("images", "webhook"))
    assert len(errors[0].format()) < 600  # the 2 MB name is cut, not printed


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_a_folder_where_a_file_is_expected(tmp_path, kind):
    result, node, field = check(kind, str(tmp_path))
    errors = [i for i in result.issues if i.is_error]
    if kind == "yolo":  # an OpenVINO model is a folder: an empty one fails when loaded, not here
        return
    assert [(i.node, i.field) for i in errors] == [(node, field)]
    assert "folder" in errors[0].message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes whatever the permissions say")
@pytest.mark.parametrize("kind", ["video", "jsonl", "record"])
def test_no_permission(tmp_path, kind):
    target = tmp_path / "locked" / "file.mp4"
    target.parent.mkdir()
    target.write_bytes(b"")
    target.chmod(0)
    target.parent.chmod(0o500)
    result, node, field = check(kind, str(target))
    errors = [i for i in result.issues if i.is_error]
    assert [(i.node, i.field) for i in errors] == [(node, field)]
    assert "not readable" in errors[0].message or "not writable" in errors[0].message


@pytest.mark.parametrize("kind", FILE_KINDS + ["images", "webhook"])
def test_a_nul_byte_in_a_path(kind):
    body, node, field = NODES[kind]
    text = "version: 1\nname: t\nnodes:\n" + body.replace("'{p}'", '"out\\x00.jsonl"')
    errors = [i for i in validate_text(text, "wf.yaml").issues if i.is_error]
    assert [(i.code, i.node, i.field) for i in errors] == [("param.check", node, field)]
    assert "NUL" in errors[0].message


def test_write_atomic_keeps_a_files_mode_and_gives_a_new_one_the_umasks(tmp_path):
    """mkstemp makes 0600 files: the writer must not pass that on (a saved workflow, a dataset, pictures)."""
    import os
    import stat

    from segflow.engine.paths import write_atomic

    old = os.umask(0o027)
    try:
        fresh = tmp_path / "sub" / "new.txt"
        write_atomic(fresh, b"one")
        assert fresh.read_bytes() == b"one"
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o640  # 0666 less the umask
        kept = tmp_path / "kept.txt"
        kept.write_bytes(b"before")
        kept.chmod(0o604)
        write_atomic(kept, b"after", fsync=True)
        assert kept.read_bytes() == b"after" and stat.S_IMODE(kept.stat().st_mode) == 0o604
    finally:
        os.umask(old)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["kept.txt", "new.txt", "sub"]  # no temporary left
