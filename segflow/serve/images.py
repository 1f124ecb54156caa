"""Images in requests and responses: checked before they are decoded, encoded once for the answer.

A request's image is refused with the reason (not a traceback) when it is not
an image, is damaged, or has more pixels than the server allows; the pixel
count is read from the file's header, before any pixel buffer is allocated.
Decoding (a few ms for a PNG frame) runs on a worker thread, never on the
event loop, where it would hold up every other request's reading and answer.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

import cv2
import numpy as np

from segflow.vision.image_header import image_size


class BadImage(ValueError):
    """An image the server will not run: the message says why, for a 4xx answer."""


def decode(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    """BGR pixels of an encoded image (PNG, JPEG, BMP, TIFF, WebP), after checking its size."""
    if not data:
        raise BadImage(f"{name}: empty")
    size = image_size(io.BytesIO(data))
    if size is None:
        raise BadImage(f"{name}: not an image file this server reads (PNG, JPEG, BMP, TIFF, WebP)")
    width, height = size
    if width * height > max_pixels:
        raise BadImage(f"{name}: {width}x{height} is {width * height:,} pixels; this server takes at most "
                       f"{max_pixels:,} (--max-pixels)")
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise BadImage(f"{name}: the image is damaged or truncated")
    return pixels


def from_base64(text: str, name: str) -> bytes:
    """The encoded image sent as base64 text (a ``data:`` URL prefix is allowed)."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadImage(f"{name}: not valid base64") from exc


def jpeg(pixels: Any, quality: int = 85) -> bytes:
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("cannot encode the image as JPEG")
    return encoded.tobytes()


def jpeg_base64(pixels: Any) -> str:
    return base64.b64encode(jpeg(pixels)).decode("ascii")
