"""analyze.image_colour: the colour of a noisy frame or a region of it, in analyze.colour's fields."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import supervision as sv

from segflow.nodes.analyze.colour import AnalyzeColour, colour_fields
from segflow.nodes.analyze.image_colour import AnalyzeImageColour
from segflow.vision.colour import delta_e_2000, srgb_to_lab

RED, BLUE = (200, 40, 30), (30, 60, 170)  # RGB


def scene(seed: int = 0) -> np.ndarray:
    """A 300 x 400 BGR frame: red left quarter, blue rest, sensor noise (sigma 4 levels)."""
    rgb = np.zeros((300, 400, 3), float)
    rgb[:, :100] = RED
    rgb[:, 100:] = BLUE
    rgb += np.random.default_rng(seed).normal(0, 4, rgb.shape)
    return np.clip(rgb, 0, 255).round().astype(np.uint8)[:, :, ::-1].copy()


def test_whole_frame_dominant_colours_and_shares(make_node, run_packet):
    value = run_packet(make_node(AnalyzeImageColour, {"k": 2, "max_pixels": 10**6}), image=scene())["value"]
    assert set(value) == set(colour_fields(AnalyzeImageColour.Params(k=2)))
    shares = [c["share"] for c in value["dominant_colours"]]
    assert shares == pytest.approx([0.75, 0.25], abs=0.01)
    blue_lab = srgb_to_lab(np.array(value["dominant_colours"][0]["rgb"]))
    assert float(delta_e_2000(blue_lab, srgb_to_lab(np.array(BLUE, float)))) < 1.0
    assert value["colour_name"] != "red" and value["colour_pixels"] == 300 * 400


def test_region_sees_only_its_pixels(make_node, run_packet):
    region = [[5, 5], [90, 5], [90, 290], [5, 290]]
    node = make_node(AnalyzeImageColour, {"region": region, "k": 0, "max_pixels": 10**6})
    value = run_packet(node, image=scene())["value"]
    lab = np.array([value["lab_l_mean"], value["lab_a_mean"], value["lab_b_mean"]])
    assert float(delta_e_2000(lab, srgb_to_lab(np.array(RED, float)))) < 0.5
    assert value["colour_name"] in {"red", "dark red"} and "dominant_hex" not in value
    # pixel centres inside the polygon: 86 x 286
    assert value["colour_pixels"] == 86 * 286


def test_sampling_a_large_frame_changes_the_figures_by_a_fraction_of_a_delta_e(make_node, run_packet):
    frame = scene(1)
    full = run_packet(make_node(AnalyzeImageColour, {"k": 0, "max_pixels": 1_000_000}), image=frame)["value"]
    sampled = run_packet(make_node(AnalyzeImageColour, {"k": 0, "max_pixels": 10_000}), image=frame)["value"]
    default = run_packet(make_node(AnalyzeImageColour, {"k": 0}), image=frame)["value"]
    assert sampled["colour_pixels"] <= 10_000 < default["colour_pixels"] <= 20_000 < full["colour_pixels"]
    lab = [np.array([v["lab_l_mean"], v["lab_a_mean"], v["lab_b_mean"]]) for v in (full, sampled)]
    assert float(delta_e_2000(*lab)) < 0.5


def test_same_figures_as_analyze_colour_on_a_mask_of_the_region(make_node, run_packet):
    frame = scene(2)
    mask = np.zeros((1, 300, 400), bool)
    mask[0, 10:200, 120:390] = True
    detections = sv.Detections(xyxy=np.array([[120, 10, 390, 200]], float), mask=mask)
    params = {"reference": {"name": "blue", "rgb": list(BLUE), "threshold": 5}, "k": 2}
    per_object = run_packet(make_node(AnalyzeColour, params), image=frame, detections=detections)["detections"]
    region = [[119.6, 9.6], [389.4, 9.6], [389.4, 199.4], [119.6, 199.4]]
    node = make_node(AnalyzeImageColour, {**params, "region": region, "max_pixels": 10**6})
    value = run_packet(node, image=frame)["value"]
    for key in ("colour_pixels", "lab_l_mean", "hue_median_deg", "colour_name", "colour_label", "delta_e_blue"):
        expected = per_object.data[key][0]
        assert value[key] == (pytest.approx(expected) if isinstance(value[key], float) else expected), key
    assert value["colour_label"] == "blue"


def test_a_region_outside_the_frame_gives_empty_figures(make_node, run_packet):
    value = run_packet(make_node(AnalyzeImageColour, {"region": [[500, 500], [600, 500], [600, 600]]}),
                       image=scene())["value"]
    assert value["colour_pixels"] == 0 and np.isnan(value["lab_l_mean"]) and value["colour_name"] == ""


@pytest.mark.parametrize("params", [{"region": [[0, 0], [1, 1]]}, {"max_pixels": 10}, {"k": 20},
                                    {"palette": {}}])
def test_bad_params(params):
    with pytest.raises(pydantic.ValidationError):
        AnalyzeImageColour.Params(**params)
