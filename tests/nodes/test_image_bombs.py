"""Decompression bombs: an image's size is read from its header and checked before anything decodes it."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from segflow.engine.node import RunContext
from segflow.nodes.sources.image import ImageSource
from segflow.vision.image_header import image_size


def coins(width: int = 53, height: int = 37) -> np.ndarray:
    return cv2.cvtColor(cv2.resize(data.coins(), (width, height)), cv2.COLOR_GRAY2BGR)


@pytest.mark.parametrize(
    ("ext", "flags"),
    [(".png", []), (".jpg", []), (".bmp", []), (".webp", []), (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]),
     (".tif", []), (".ppm", []), (".pgm", []), (".pbm", []), (".pnm", []), (".pam", []), (".jp2", []),
     (".sr", []), (".ras", []), (".hdr", []), (".pic", [])],
)  # fmt: skip
def test_the_header_tells_the_size_of_every_format_opencv_writes(ext, flags):
    image = coins()
    if ext in (".pgm", ".pbm"):
        image = image[:, :, 0]
    if ext in (".hdr", ".pic"):
        image = image.astype(np.float32) / 255
    ok, encoded = cv2.imencode(ext, image, flags)
    assert ok
    assert image_size(io.BytesIO(encoded.tobytes())) == (53, 37)


def test_a_tiff_with_its_directory_at_the_end_is_read():
    pil = pytest.importorskip("PIL.Image")
    buffer = io.BytesIO()
    pil.fromarray(coins(300, 200)).save(buffer, format="TIFF", compression="tiff_deflate")
    raw = buffer.getvalue()
    assert image_size(io.BytesIO(raw)) == (300, 200)


@pytest.mark.parametrize("head", [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0\xff\xff", b"GIF89a", b"random bytes"])
def test_a_header_that_does_not_say_its_size_gives_none(head):
    assert image_size(io.BytesIO(head)) is None


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG of 8 x 8 pixels whose IHDR claims ``width`` x ``height`` (CRC fixed): a bomb's header."""
    ok, encoded = cv2.imencode(".png", coins(8, 8))
    raw = bytearray(encoded.tobytes())
    raw[16:24] = struct.pack(">II", width, height)
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(raw[12:29])))
    return bytes(raw)


def test_a_bomb_in_a_folder_is_skipped_and_counted_and_the_run_goes_on(tmp_path, caplog):
    folder = tmp_path / "shots"
    folder.mkdir()
    cv2.imwrite(str(folder / "a1.png"), coins())
    (folder / "a2.png").write_bytes(png_claiming(50_000, 50_000))  # over OpenCV's own limit: it threw
    (folder / "a3.png").write_bytes(png_claiming(32_000, 32_000))  # under it: 3 GB and seconds, before
    cv2.imwrite(str(folder / "a4.png"), coins())
    node = ImageSource("imgs", ImageSource.Params(path="shots"), RunContext(workflow_name="t", base_dir=tmp_path))
    node.setup()
    started = time.perf_counter()
    frames = list(node.frames())
    assert [Path(f.meta["path"]).name for f in frames] == ["a1.png", "a4.png"]
    assert node.skipped_count == 2
    assert all("over the limit" in s.reason and "not decoded" in s.reason for s in node.skipped)
    assert "50000 x 50000" in caplog.text and "32000 x 32000" in caplog.text
    assert time.perf_counter() - started < 5  # nothing was decoded at its claimed size


def test_the_pixel_limit_is_a_param(tmp_path):
    cv2.imwrite(str(tmp_path / "big.png"), coins(400, 300))
    small = ImageSource("imgs", ImageSource.Params(path="big.png", max_megapixels=0.1),
                        RunContext(workflow_name="t", base_dir=tmp_path))
    small.setup()
    with pytest.raises(Exception, match="no readable image"):
        list(small.frames())
    assert "0.1 MP" in small.skipped[0].reason
