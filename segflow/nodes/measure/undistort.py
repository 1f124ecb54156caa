"""``undistort.image``: remove lens distortion with a calibration file from `segflow calibrate`.

Measurements assume straight lines stay straight; a wide lens bends them by
several pixels at the corners. The node remaps every frame to the ideal
pinhole image of the same camera matrix, so mm figures (a fixed scale, a
marker, a plane homography) hold across the whole frame. The remap tables are
computed once per frame size.
"""

from __future__ import annotations

from typing import Any

import cv2
from pydantic import Field

from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type
from segflow.engine.node import ParamProblem, RunContext
from segflow.vision.calibration import Calibration, load_calibration


class UndistortParams(Params):
    calibration: str = Field(description="Calibration file (.yaml or .json) written by `segflow calibrate`.")


@node_type("undistort.image")
class UndistortImage(Node):
    """Remove lens distortion from every frame, using a `segflow calibrate` file."""

    Params = UndistortParams
    params: UndistortParams
    inputs = {"image": Port(Kind.IMAGE, "The camera's frame.")}
    outputs = {"image": Port(Kind.IMAGE, "The frame as an ideal pinhole camera with the same matrix sees it.")}

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        try:
            load_calibration(context.resolve(params.calibration))
        except ValueError as exc:
            return [ParamProblem("calibration", str(exc), "run `segflow calibrate IMAGES... --out FILE` first")]
        return []

    def setup(self) -> None:
        try:
            self._calibration: Calibration = load_calibration(self.context.resolve(self.params.calibration))
        except ValueError as exc:
            raise NodeError(f"undistort.image '{self.node_id}': {exc}") from exc
        size = self._calibration.image_size
        k, dist = self._calibration.k, self._calibration.dist
        self._maps = cv2.initUndistortRectifyMap(k, dist, None, k, size, cv2.CV_32FC1)

    def process(self, inputs: Inputs) -> dict[str, Any]:
        frame = inputs["image"]
        h, w = frame.pixels.shape[:2]
        if (w, h) != tuple(self._calibration.image_size):
            cw, ch = self._calibration.image_size
            raise NodeError(
                f"undistort.image '{self.node_id}': the frame is {w}x{h} px but the calibration was "
                f"solved for {cw}x{ch} px",
                hint="calibrate from images of the size this source delivers",
            )
        return {"image": frame.with_pixels(cv2.remap(frame.pixels, *self._maps, cv2.INTER_LINEAR))}
