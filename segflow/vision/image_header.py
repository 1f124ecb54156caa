"""The pixel size an image file claims, read from its header before anything decodes it.

A 1 MB PNG can claim 32000 x 32000 pixels: decoding it takes 3 GB and many
seconds before anything fails, and past OpenCV's own limit the decoder throws.
A folder of real data may hold such a file by accident or by intent, so the
size is read here from the first bytes (every format OpenCV reads as a still
image) and compared with a limit first. A header this module cannot read
gives ``None``: the caller treats an image whose size it cannot know as one
it must not decode.
"""

from __future__ import annotations

import re
import struct
from typing import BinaryIO

HEADER_BYTES = 1 << 16
"""How much of a file is read for its header (a JPEG's frame header may follow large EXIF blocks)."""


def image_size(file: BinaryIO) -> tuple[int, int] | None:
    """``(width, height)`` as the header of ``file`` claims them, or ``None`` when it cannot be read."""
    head = file.read(HEADER_BYTES)
    for magic, reader in _READERS:
        if head.startswith(magic):
            try:
                return reader(head) if reader is not _tiff else _tiff(head, file)
            except (struct.error, ValueError, IndexError, OSError):
                return None
    return None


def _png(head: bytes) -> tuple[int, int] | None:
    if head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _jpeg(head: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 4 <= len(head):
        if head[at] != 0xFF:
            return None
        marker = head[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            at += 2
            continue
        (length,) = struct.unpack(">H", head[at + 2:at + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
            height, width = struct.unpack(">HH", head[at + 5:at + 9])
            return width, height
        at += 2 + length
    return None


def _bmp(head: bytes) -> tuple[int, int] | None:
    (header_size,) = struct.unpack("<I", head[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack("<HH", head[18:22])
        return width, height
    width, height = struct.unpack("<ii", head[18:26])
    return abs(width), abs(height)  # a negative height is a top-down bitmap


def _webp(head: bytes) -> tuple[int, int] | None:
    if head[8:12] != b"WEBP":
        return None
    chunk = head[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _tiff(head: bytes, file: BinaryIO) -> tuple[int, int] | None:
    """The first directory's ImageWidth and ImageLength; it may sit anywhere in the file (often at its end)."""
    order = "<" if head[:2] == b"II" else ">"
    big = struct.unpack(order + "H", head[2:4])[0] == 43
    (offset,) = struct.unpack(order + "Q", head[8:16]) if big else struct.unpack(order + "I", head[4:8])
    count_format, entry_size, value_at = (order + "Q", 20, 12) if big else (order + "H", 12, 8)
    file.seek(offset)
    directory = file.read(8 + 4096 * entry_size)
    (count,) = struct.unpack(count_format, directory[: struct.calcsize(count_format)])
    found: dict[int, int] = {}
    for i in range(min(count, 4096)):
        at = struct.calcsize(count_format) + i * entry_size
        tag, kind = struct.unpack(order + "HH", directory[at:at + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength: a SHORT or a LONG
            value_format = "H" if kind == 3 else "I"
            found[tag] = struct.unpack(order + value_format, directory[at + value_at:at + value_at
                                                                        + struct.calcsize(value_format)])[0]
    return (found[256], found[257]) if 256 in found and 257 in found else None


PNM_FIELDS = re.compile(rb"\AP[1-7]((?:\s+|#[^\n]*\n)+)(\d+)((?:\s+|#[^\n]*\n)+)(\d+)")


def _pnm(head: bytes) -> tuple[int, int] | None:
    if head[:2] == b"P7":  # PAM: WIDTH and HEIGHT lines
        width, height = re.search(rb"\nWIDTH\s+(\d+)", head), re.search(rb"\nHEIGHT\s+(\d+)", head)
        return (int(width[1]), int(height[1])) if width and height else None
    match = PNM_FIELDS.match(head)
    return (int(match[2]), int(match[4])) if match else None


def _sun(head: bytes) -> tuple[int, int] | None:
    width, height = struct.unpack(">II", head[4:12])
    return width, height


def _jp2(head: bytes) -> tuple[int, int] | None:
    at = head.find(b"ihdr")
    if at < 0:
        return None
    height, width = struct.unpack(">II", head[at + 4:at + 12])
    return width, height


def _j2k(head: bytes) -> tuple[int, int] | None:  # a raw codestream: the SIZ marker follows SOC
    if head[2:4] != b"\xff\x51":
        return None
    width, height, x0, y0 = struct.unpack(">IIII", head[6:22])
    return width - x0, height - y0


def _radiance(head: bytes) -> tuple[int, int] | None:
    match = re.search(rb"\n\n([-+])([YX]) (\d+) ([-+])([YX]) (\d+)\n", head)
    if match is None:
        return None
    first, second = int(match[3]), int(match[6])
    return (second, first) if match[2] == b"Y" else (first, second)


def _exr(head: bytes) -> tuple[int, int] | None:
    at = 8
    while at < len(head) and head[at] != 0:
        name_end = head.index(b"\0", at)
        type_end = head.index(b"\0", name_end + 1)
        (size,) = struct.unpack("<i", head[type_end + 1:type_end + 5])
        value = head[type_end + 5:type_end + 5 + size]
        if head[at:name_end] == b"dataWindow":
            x_min, y_min, x_max, y_max = struct.unpack("<iiii", value)
            return x_max - x_min + 1, y_max - y_min + 1
        at = type_end + 5 + size
    return None


_READERS = (
    (b"\x89PNG\r\n\x1a\n", _png),
    (b"\xff\xd8", _jpeg),
    (b"BM", _bmp),
    (b"RIFF", _webp),
    (b"II*\0", _tiff),
    (b"MM\0*", _tiff),
    (b"II+\0", _tiff),
    (b"MM\0+", _tiff),
    (b"\0\0\0\x0cjP  ", _jp2),
    (b"\xff\x4f", _j2k),
    (b"\x59\xa6\x6a\x95", _sun),
    (b"#?", _radiance),
    (b"\x76\x2f\x31\x01", _exr),
    *((f"P{n}".encode(), _pnm) for n in range(1, 8)),
)
