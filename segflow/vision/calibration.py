"""Camera calibration files: the lens model `segflow calibrate` solves and `undistort.image` applies.

A plain YAML (or JSON) file a person can read and keep in git beside the
workflow: the intrinsics (camera matrix), OpenCV's five distortion
coefficients (k1 k2 p1 p2 k3), the image size they were solved for, and how
well they fit (RMS reprojection error) on which board.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class BoardInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["checkerboard", "charuco"]
    squares: tuple[int, int]
    square_mm: float = Field(gt=0)
    marker_mm: float | None = None
    dictionary: str | None = None


class Calibration(BaseModel):
    """One camera's lens model, as written to and read from a calibration file."""

    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    image_size: tuple[int, int] = Field(description="Width and height in pixels the model was solved for.")
    camera_matrix: list[list[float]]
    distortion: list[float] = Field(min_length=4, max_length=14)
    rms_px: float = Field(ge=0, description="RMS reprojection error of the board corners, px.")
    views: int = Field(ge=1, description="Board images the solution used.")
    board: BoardInfo

    @field_validator("camera_matrix")
    @classmethod
    def _three_by_three(cls, value: list[list[float]]) -> list[list[float]]:
        if len(value) != 3 or any(len(row) != 3 for row in value):
            raise ValueError("camera_matrix must be 3 rows of 3 numbers")
        return value

    @property
    def k(self) -> np.ndarray:
        return np.array(self.camera_matrix, np.float64)

    @property
    def dist(self) -> np.ndarray:
        return np.array(self.distortion, np.float64)


def save_calibration(calibration: Calibration, path: Path) -> None:
    """Write JSON for a .json path, YAML otherwise."""
    data = calibration.model_dump(mode="json")
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(data, indent=2) + "\n")
    else:
        head = "# Camera calibration written by `segflow calibrate`; applied by the undistort.image node.\n"
        path.write_text(head + yaml.safe_dump(data, sort_keys=False, default_flow_style=None))


def load_calibration(path: Path) -> Calibration:
    """Read a calibration file; raises ValueError naming the file and what is wrong."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read calibration file {path}: {exc.strerror or exc}") from exc
    try:
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{path} is not a readable calibration file: {exc}") from exc
    try:
        return Calibration.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{path}: not a segflow calibration file ({problems})") from exc
