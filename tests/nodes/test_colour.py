"""analyze.colour on rendered scenes: flat patches, objects on other backgrounds, references."""

from __future__ import annotations

import cv2
import numpy as np
import pydantic
import pytest
import supervision as sv
from skimage import data
from skimage.color import deltaE_ciede2000, rgb2lab

from segflow.engine import NodeError
from segflow.nodes.analyze.colour import AnalyzeColour


def lab_of(rgb):
    """Ground truth from scikit-image, not from the code under test."""
    return rgb2lab(np.array([[rgb]], float) / 255.0)[0, 0]


def one_detection(mask):
    return sv.Detections(
        xyxy=sv.mask_to_xyxy(mask[None]).astype(float),
        mask=mask[None],
        class_id=np.array([0]),
        data={"class_name": np.array(["thing"])},
    )


@pytest.mark.parametrize("rgb", [(200, 60, 40), (30, 140, 60), (90, 90, 220), (240, 230, 200)])
def test_flat_noisy_patch_mean_lab_within_delta_e_1(make_node, run_packet, rgb):
    rng = np.random.default_rng(0)
    image = np.clip(np.array(rgb[::-1]) + rng.normal(0, 3, (120, 160, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros(image.shape[:2], bool)
    mask[20:100, 30:130] = True
    out = run_packet(make_node(AnalyzeColour), image=image, detections=one_detection(mask))
    d = out["detections"].data
    mean_lab = np.array([d["lab_l_mean"][0], d["lab_a_mean"][0], d["lab_b_mean"][0]])
    assert deltaE_ciede2000(mean_lab, lab_of(rgb)) < 1.0
    assert [d["r_mean"][0], d["g_mean"][0], d["b_mean"][0]] == pytest.approx(rgb, abs=1.0)
    assert d["colour_pixels"][0] == 80 * 100


def test_object_on_other_background_reports_the_object_not_a_blend(make_node, run_packet):
    # A red disc filling about half of its own box, on a blue background.
    image = np.zeros((200, 200, 3), np.uint8)
    image[:] = (200, 80, 20)  # BGR blue
    cv2.circle(image, (100, 100), 60, (40, 40, 210), -1)
    mask = np.zeros((200, 200), np.uint8)
    cv2.circle(mask, (100, 100), 60, 1, -1)
    detections = one_detection(mask.astype(bool))
    detections.xyxy = np.array([[20.0, 20.0, 180.0, 180.0]])  # a generous box
    out = run_packet(make_node(AnalyzeColour), image=image, detections=detections)
    d = out["detections"].data
    mean_lab = [d["lab_l_mean"][0], d["lab_a_mean"][0], d["lab_b_mean"][0]]
    assert deltaE_ciede2000(mean_lab, lab_of((210, 40, 40))) < 1.0
    assert d["colour_name"][0] == "red"
    assert d["dominant_share"][0] == pytest.approx(1.0)
    assert d["dominant_hex"][0] == "#d22828"
    # The same box without the mask would be a blend: the reason masks are required.
    box_only = sv.Detections(xyxy=detections.xyxy, class_id=np.array([0]))
    node = make_node(AnalyzeColour, {"use_box_without_mask": True})
    blend = run_packet(node, image=image, detections=box_only)["detections"].data
    blend_lab = [blend["lab_l_mean"][0], blend["lab_a_mean"][0], blend["lab_b_mean"][0]]
    assert deltaE_ciede2000(blend_lab, lab_of((210, 40, 40))) > 10


def test_hue_mean_wraps_around_red(make_node, run_packet):
    image = np.zeros((10, 20, 3), np.uint8)
    image[:, :10] = (20, 0, 255)  # hue ~355
    image[:, 10:] = (0, 20, 255)  # hue ~5
    out = run_packet(
        make_node(AnalyzeColour, {"k": 2}),
        image=image,
        detections=one_detection(np.ones((10, 20), bool)),
    )
    d = out["detections"].data
    assert (d["hue_mean_deg"][0] + 180) % 360 - 180 == pytest.approx(0, abs=0.5)
    assert [c["share"] for c in d["dominant_colours"][0]] == pytest.approx([0.5, 0.5])


RIPE = {"name": "ripe", "lab": list(lab_of((200, 30, 30)))}
UNRIPE = {"name": "unripe", "rgb": [60, 160, 50]}


@pytest.mark.parametrize(
    ("params", "rgb", "label", "reference"),
    [
        ({"reference": RIPE, "no_match_label": "unripe"}, (205, 35, 30), "ripe", "ripe"),
        ({"reference": RIPE, "no_match_label": "unripe"}, (60, 160, 50), "unripe", "ripe"),
        ({"reference": [RIPE, UNRIPE]}, (70, 150, 60), "unripe", "unripe"),
        ({"reference": [RIPE, UNRIPE]}, (40, 40, 220), "other", "ripe"),
        ({"reference": [RIPE, UNRIPE], "threshold": 80}, (40, 40, 220), "ripe", "ripe"),
        ({"reference": [{**RIPE, "threshold": 0.5}]}, (205, 35, 30), "other", "ripe"),
        ({"reference": {"name": "blue", "hex": "#2828dc"}}, (40, 40, 220), "blue", "blue"),
    ],
)
def test_reference_labels(make_node, run_packet, params, rgb, label, reference):
    image = np.full((30, 30, 3), rgb[::-1], np.uint8)
    node = make_node(AnalyzeColour, params)
    d = run_packet(node, image=image, detections=one_detection(np.ones((30, 30), bool)))
    data = d["detections"].data
    assert data["colour_label"][0] == label
    assert data["reference"][0] == reference
    expected = deltaE_ciede2000(lab_of(rgb), np.array(RIPE["lab"]))
    if "delta_e_ripe" in data:
        assert data["delta_e_ripe"][0] == pytest.approx(expected, abs=0.05)


def test_custom_palette(make_node, run_packet):
    params = {"palette": {"bean": "#6f4e37", "stone": [128, 128, 120]}}
    image = np.full((20, 20, 3), (118, 125, 125), np.uint8)
    out = run_packet(
        make_node(AnalyzeColour, params),
        image=image,
        detections=one_detection(np.ones((20, 20), bool)),
    )
    assert out["detections"].data["colour_name"][0] == "stone"


def test_real_photo_crema_is_lighter_and_more_orange_than_the_saucer(make_node, run_packet):
    # scikit-image's coffee(): light orange-brown crema in the cup, a dark red saucer.
    image = cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR)
    masks = np.zeros((2, *image.shape[:2]), bool)
    masks[0, 130:170, 240:320] = True  # crema
    masks[1, 300:330, 130:180] = True  # saucer
    detections = sv.Detections(xyxy=sv.mask_to_xyxy(masks).astype(float), mask=masks)
    out = run_packet(make_node(AnalyzeColour), image=image, detections=detections)
    d = out["detections"].data
    assert d["lab_l_mean"][0] > d["lab_l_mean"][1] + 20
    assert 20 < d["hue_mean_deg"][0] < 45
    assert (d["hue_mean_deg"][1] + 180) % 360 - 180 < 15
    assert d["colour_name"][1] in {"dark red", "brown"}


def test_empty_mask_and_empty_detections(make_node, run_packet):
    image = np.zeros((10, 10, 3), np.uint8)
    node = make_node(AnalyzeColour, {"reference": RIPE})
    out = run_packet(node, image=image, detections=one_detection(np.zeros((10, 10), bool)))
    d = out["detections"].data
    assert np.isnan(d["lab_l_mean"][0]) and d["colour_name"][0] == "" and d["colour_label"][0]
    empty = run_packet(node, image=image, detections=sv.Detections.empty())["detections"]
    assert len(empty) == 0 and "colour_label" in empty.data


@pytest.mark.parametrize(
    ("image", "detections", "message"),
    [
        (np.zeros((10, 10), np.uint8), sv.Detections.empty(), "needs a colour"),
        (
            np.zeros((10, 10, 3), np.uint8),
            sv.Detections(xyxy=np.array([[0, 0, 5, 5.0]])),
            "no masks",
        ),
        (np.zeros((12, 10, 3), np.uint8), one_detection(np.ones((10, 10), bool)), "masks are"),
    ],
)
def test_bad_inputs_are_clear_errors(make_node, run_packet, image, detections, message):
    with pytest.raises(NodeError, match=message):
        run_packet(make_node(AnalyzeColour), image=image, detections=detections)


@pytest.mark.parametrize(
    "params",
    [
        {"palette": {}},
        {"palette": {"x": "#12"}},
        {"reference": {"name": "a", "lab": [50, 0]}},
        {"reference": [RIPE, RIPE]},
        {"reference": []},
        {"reference": {"name": "a"}},
        {"k": 99},
        {"threshold": 0},
    ],
)
def test_bad_params_are_rejected(params):
    with pytest.raises(pydantic.ValidationError):
        AnalyzeColour.Params(**params)
