"""track.bytetrack: identities follow moving objects; one tracker per source; masks kept."""

from __future__ import annotations

import numpy as np
import supervision as sv
import trackers  # noqa: E402,F401  (a core dependency: ByteTrack lives there)

from segflow.nodes.detections.track import ByteTrack


def frame_detections(t, shape=(120, 200), reverse=False, names=("left", "right"), y=40):
    """Two boxes moving right by 4 px per frame, with masks and a per-object field."""
    xs = [10 + 4 * t, 110 + 4 * t]
    masks = np.zeros((2, *shape), bool)
    for i, x in enumerate(xs):
        masks[i, y : y + 30, x : x + 30] = True
    d = sv.Detections(
        xyxy=sv.mask_to_xyxy(masks).astype(float),
        mask=masks,
        confidence=np.array([0.9, 0.85]),
        class_id=np.array([0, 1]),
        data={"class_name": np.array(names), "x_start": np.array([float(x) for x in xs])},
    )
    return d[::-1] if reverse else d


def test_ids_follow_objects_and_keep_masks_and_fields(make_node, run_packet):
    node = make_node(ByteTrack)
    ids_by_name: dict[str, set[int]] = {"left": set(), "right": set()}
    for t in range(12):
        out = run_packet(node, index=t, detections=frame_detections(t, reverse=t % 2 == 1))
        out = out["detections"]
        # A track is born on its first frame and gets its id when seen again.
        assert len(out) == (0 if t == 0 else 2)
        for i in range(len(out)):
            name = out.data["class_name"][i]
            ids_by_name[name].add(int(out.tracker_id[i]))
            # The mask travelled with its detection: it starts at this object's x.
            assert np.nonzero(out.mask[i].any(axis=0))[0][0] == out.data["x_start"][i]
    assert len(ids_by_name["left"]) == 1 and len(ids_by_name["right"]) == 1
    assert ids_by_name["left"] != ids_by_name["right"]


def test_one_tracker_per_source(make_node, run_packet):
    node = make_node(ByteTrack)
    seen = {}
    for t in range(5):
        for source, y in (("cam1", 10), ("cam2", 80)):
            out = run_packet(node, source=source, index=t, detections=frame_detections(t, y=y))
            seen.setdefault(source, set()).update(out["detections"].tracker_id.tolist())
    # Each source has its own tracker, so each numbers its two objects 0 and 1; one
    # shared tracker would have numbered the second camera's objects 2 and 3.
    assert seen["cam1"] == seen["cam2"] == {0, 1}


def test_unconfirmed_tracks_dropped_or_kept(make_node, run_packet):
    params = {"minimum_consecutive_frames": 3}
    dropping = make_node(ByteTrack, params)
    keeping = make_node(ByteTrack, {**params, "keep_untracked": True})
    for t in range(2):
        dropped = run_packet(dropping, index=t, detections=frame_detections(t))["detections"]
        kept = run_packet(keeping, index=t, detections=frame_detections(t))["detections"]
        assert len(dropped) == 0
        assert len(kept) == 2 and (kept.tracker_id == -1).all()
    for t in range(2, 5):
        confirmed = run_packet(dropping, index=t, detections=frame_detections(t))["detections"]
    assert len(confirmed) == 2 and (confirmed.tracker_id >= 0).all()


def test_empty_frames_flow_through(make_node, run_packet):
    node = make_node(ByteTrack)
    out = run_packet(node, detections=sv.Detections.empty())["detections"]
    assert len(out) == 0
    run_packet(node, index=1, detections=frame_detections(1))
    out = run_packet(node, index=2, detections=sv.Detections.empty())["detections"]
    assert len(out) == 0
