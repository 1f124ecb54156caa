"""``analyze.colour``: the colour of each detected object, from its mask's pixels only.

A box around a round object holds background too; averaging the box would
report a blend. Every statistic here is taken over the mask's pixels: mean and
median in RGB, HSV and CIELAB, dominant colours by k-means, the nearest named
colour, and CIEDE2000 distances to reference colours that set a label
(ripe / unripe). The maths is in :mod:`segflow.vision.colour`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from pydantic import ConfigDict, Field, field_validator, model_validator

from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type
from segflow.vision.colour import (
    BUILTIN_PALETTE,
    circular_mean_median_deg,
    delta_e_2000,
    dominant_colours,
    hex_of,
    lab_to_srgb,
    nearest,
    parse_colour,
    rgb_to_hsv,
    srgb_to_lab,
)

ColourSpec = str | list[float] | dict[str, list[float]]
_SPEC_HELP = "'#rrggbb', [r, g, b] (0-255), {lab: [L, a, b]} or {rgb: [r, g, b]}"


def _reference_schema(schema: dict[str, Any]) -> None:
    """Let editors accept the shorthands the validator accepts: {name, lab|rgb|hex: ...}."""
    triple = {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3}
    schema["properties"].update(
        lab={**triple, "description": "Shorthand for colour: {lab: [L, a, b]}."},
        rgb={**triple, "description": "Shorthand for colour: {rgb: [r, g, b]} (0-255)."},
        hex={"type": "string", "description": "Shorthand for colour: '#rrggbb'."},
    )
    schema["required"] = ["name"]
    schema["anyOf"] = [{"required": [key]} for key in ("colour", "lab", "rgb", "hex")]


class Reference(Params):
    model_config = ConfigDict(json_schema_extra=_reference_schema)

    name: str = Field(min_length=1, description="Label given when this colour is the match.")
    colour: ColourSpec = Field(description=f"The reference colour: {_SPEC_HELP}.")
    threshold: float | None = Field(
        None, gt=0, description="Largest Delta-E 2000 that still matches (default: the node's)."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # Allow {name: ripe, lab: [..]} / {rgb: ..} / {hex: ..} beside {name, colour: ..}.
        if isinstance(value, dict) and "colour" not in value:
            for key in ("lab", "rgb"):
                if key in value:
                    value = {**value, "colour": {key: value[key]}}
                    value.pop(key)
                    break
            else:
                if "hex" in value:
                    value = {k: v for k, v in value.items() if k != "hex"} | {
                        "colour": value["hex"]
                    }
        return value

    @field_validator("colour")
    @classmethod
    def _valid_colour(cls, value: ColourSpec) -> ColourSpec:
        parse_colour(value)
        return value


class ColourOptions(Params):
    """What a colour description holds: shared by analyze.colour (per object) and analyze.image_colour."""

    k: int = Field(3, ge=0, le=16, description="Dominant colours to find by k-means (0: skip).")
    palette: dict[str, ColourSpec] | None = Field(
        None,
        description=f"Named colours for `colour_name`: name -> {_SPEC_HELP}. "
        "Unset: a built-in palette of 51 everyday colour names covering every hue.",
    )
    reference: Reference | list[Reference] | None = Field(
        None,
        description="Reference colour(s); the nearest within `threshold` sets `colour_label`.",
    )
    threshold: float = Field(10.0, gt=0, description="Largest Delta-E 2000 that counts as a match.")
    no_match_label: str = Field(
        "other", description="`colour_label` when no reference is within its threshold."
    )
    seed: int = Field(0, description="Seed of the k-means initialisation (results repeat).")

    @field_validator("palette")
    @classmethod
    def _valid_palette(cls, value: dict[str, ColourSpec] | None) -> dict[str, ColourSpec] | None:
        if value is not None:
            if not value:
                raise ValueError("palette is empty; leave it unset for the built-in palette")
            for name, spec in value.items():
                try:
                    parse_colour(spec)
                except ValueError as exc:
                    raise ValueError(f"palette colour {name!r}: {exc}") from exc
        return value

    @field_validator("reference")
    @classmethod
    def _unique_names(cls, value: Reference | list[Reference] | None) -> Any:
        names = [ref.name for ref in value] if isinstance(value, list) else []
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"reference names must be unique; repeated: {', '.join(duplicates)}")
        if isinstance(value, list) and not value:
            raise ValueError("reference list is empty; leave it unset for no references")
        return value

    def references(self) -> list[Reference]:
        if self.reference is None:
            return []
        return self.reference if isinstance(self.reference, list) else [self.reference]


class ColourParams(ColourOptions):
    use_box_without_mask: bool = Field(
        False,
        description="Detections without masks: use the whole box (includes background) "
        "instead of failing the frame.",
    )


def pixel_statistics(rgb: np.ndarray) -> dict[str, float]:
    """Mean and median of (P, 3) sRGB pixels in RGB, HSV and Lab."""
    nan = float("nan")
    fields: dict[str, float] = {"colour_pixels": float(len(rgb))}
    if len(rgb) == 0:
        names = ["r", "g", "b", "saturation", "value", "lab_l", "lab_a", "lab_b", "hue"]
        for name in names:
            for stat in ("mean", "median"):
                fields[f"{name}_{stat}" + ("_deg" if name == "hue" else "")] = nan
        return fields
    for i, name in enumerate("rgb"):
        fields[f"{name}_mean"] = float(rgb[:, i].mean())
        fields[f"{name}_median"] = float(np.median(rgb[:, i]))
    hsv = rgb_to_hsv(rgb)
    # Hue of near-gray pixels is noise: weight the mean hue by saturation.
    fields["hue_mean_deg"], fields["hue_median_deg"] = circular_mean_median_deg(
        hsv[:, 0], weight=hsv[:, 1] + 1e-9
    )
    for i, name in ((1, "saturation"), (2, "value")):
        fields[f"{name}_mean"] = float(hsv[:, i].mean())
        fields[f"{name}_median"] = float(np.median(hsv[:, i]))
    lab = srgb_to_lab(rgb)
    for i, name in enumerate(("lab_l", "lab_a", "lab_b")):
        fields[f"{name}_mean"] = float(lab[:, i].mean())
        fields[f"{name}_median"] = float(np.median(lab[:, i]))
    return fields


@node_type("analyze.colour")
class AnalyzeColour(Node):
    """Colour of each object from its mask: mean/median RGB-HSV-Lab, dominant, name, Delta-E."""

    Params = ColourParams
    params: ColourParams
    inputs = {
        "image": Port(Kind.IMAGE, "The frame the detections were found in."),
        "detections": Port(Kind.DETECTIONS, "Detections with masks."),
    }
    outputs = {"detections": Port(Kind.DETECTIONS, "The same detections with colour fields.")}

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        return frozenset(colour_fields(params))

    def setup(self) -> None:
        self._describer = ColourDescriber(self.params)

    def process(self, inputs: Inputs) -> dict[str, Any]:
        detections = inputs["detections"]
        image = inputs["image"].pixels
        n = len(detections)
        if image.ndim != 3 or image.shape[2] < 3:
            raise NodeError(
                f"analyze.colour '{self.node_id}': needs a colour (BGR) image, got shape "
                f"{image.shape}",
                hint="feed the node the colour frame from the source",
            )
        if n and detections.mask is None and not self.params.use_box_without_mask:
            raise NodeError(
                f"analyze.colour '{self.node_id}': the detections have no masks, so the "
                "background inside each box would leak into its colour",
                hint="put segment.grabcut or segment.sam2 before it, or set "
                "use_box_without_mask: true",
            )
        if n and detections.mask is not None and detections.mask.shape[1:] != image.shape[:2]:
            raise NodeError(
                f"analyze.colour '{self.node_id}': masks are {detections.mask.shape[1:]} but the "
                f"image is {image.shape[:2]}",
                hint="connect the image the detections were made on",
            )
        rows = [self._describer.describe(self._pixels(image, detections, i)) for i in range(n)]
        data = dict(detections.data)
        for key in colour_fields(self.params):
            values = [row[key] for row in rows]
            data[key] = (
                np.array(values, dtype=object)
                if key == "dominant_colours"
                else np.array(values, dtype=float if key not in _TEXT_FIELDS else str)
            )
        return {"detections": dataclasses.replace(detections, data=data)}

    def _pixels(self, image: np.ndarray, detections: Any, i: int) -> np.ndarray:
        if detections.mask is not None:
            # Index inside the mask's own bounding box: a full-frame boolean index per object costs
            # milliseconds at camera resolution. Same pixels, same (row-major) order.
            mask = detections.mask[i]
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            if rows.size == 0:
                return np.empty((0, 3), dtype=np.float64)
            y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            return image[y0:y1, x0:x1][mask[y0:y1, x0:x1]][:, 2::-1].astype(np.float64)  # BGR -> RGB
        h, w = image.shape[:2]
        x0, y0, x1, y1 = detections.xyxy[i]
        x0, y0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
        x1, y1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
        return image[y0:y1, x0:x1].reshape(-1, image.shape[2])[:, 2::-1].astype(np.float64)


class ColourDescriber:
    """The colour fields of a set of pixels, with a node's palette and references parsed once."""

    def __init__(self, options: ColourOptions) -> None:
        self.options = options
        palette = options.palette or BUILTIN_PALETTE
        self._palette_names = list(palette)
        self._palette_lab = np.stack([parse_colour(spec) for spec in palette.values()])
        self._references = options.references()
        self._reference_lab = [parse_colour(ref.colour) for ref in self._references]

    def describe(self, rgb: np.ndarray) -> dict[str, Any]:
        """Every field of :func:`colour_fields` for (P, 3) sRGB pixels (NaN / empty text for none)."""
        row: dict[str, Any] = pixel_statistics(rgb)
        mean_lab = np.array([row["lab_l_mean"], row["lab_a_mean"], row["lab_b_mean"]])
        empty = len(rgb) == 0
        row["colour_hex"] = "" if empty else hex_of(lab_to_srgb(mean_lab))
        name, distance = (
            ("", float("nan"))
            if empty
            else nearest(mean_lab, self._palette_names, self._palette_lab)
        )
        row["colour_name"], row["colour_name_delta_e"] = name, distance
        if self.options.k:
            found = dominant_colours(rgb, self.options.k, self.options.seed)
            row["dominant_colours"] = [
                {"hex": hex_of(c), "rgb": [round(float(v), 1) for v in c], "share": round(s, 4)}
                for c, s in found
            ]
            row["dominant_hex"] = hex_of(found[0][0]) if found else ""
            row["dominant_share"] = found[0][1] if found else float("nan")
        if self._references:
            self._label(row, mean_lab, empty)
        return row

    def _label(self, row: dict[str, Any], mean_lab: np.ndarray, empty: bool) -> None:
        distances = [
            float("nan") if empty else float(delta_e_2000(mean_lab, lab))
            for lab in self._reference_lab
        ]
        for ref, distance in zip(self._references, distances, strict=True):
            row[f"delta_e_{ref.name}"] = distance
        best = None if empty else int(np.argmin(distances))
        row["reference"] = "" if best is None else self._references[best].name
        row["reference_delta_e"] = float("nan") if best is None else distances[best]
        label = self.options.no_match_label
        if best is not None:
            ref = self._references[best]
            limit = ref.threshold if ref.threshold is not None else self.options.threshold
            if distances[best] <= limit:
                label = ref.name
        row["colour_label"] = label


def colour_fields(params: ColourOptions) -> list[str]:
    """The fields analyze.colour adds with these params, in the order it writes them."""
    keys = list(pixel_statistics(np.zeros((0, 3))))
    keys += ["colour_hex", "colour_name", "colour_name_delta_e"]
    if params.k:
        keys += ["dominant_colours", "dominant_hex", "dominant_share"]
    references = params.references()
    if references:
        keys += [f"delta_e_{ref.name}" for ref in references]
        keys += ["reference", "reference_delta_e", "colour_label"]
    return keys


_TEXT_FIELDS = {"colour_hex", "colour_name", "dominant_hex", "reference", "colour_label"}
