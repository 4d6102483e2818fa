"""Reading QR codes back in tests, as a scanner would: decode a PNG (zxing-cpp), or draw the
portal's inline SVG (documents.qr.svg) as an image and decode that."""

from __future__ import annotations

import io
import re

import zxingcpp
from PIL import Image


def decode(image: Image.Image) -> list[str]:
    """The text of every QR code zxing-cpp finds in the image."""
    return [result.text for result in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


def decode_png(data: bytes) -> list[str]:
    return decode(Image.open(io.BytesIO(data)))


def svg_image(svg: str, scale: int = 6) -> Image.Image:
    """The QR code an SVG from documents.qr.svg draws, as an image: each row of dark modules
    is a run of horizontal strokes (absolute M, relative m and h) one module high."""
    box = re.search(r'viewBox="0 0 (\d+) (\d+)"', svg)
    path = re.search(r'<path stroke="#000" d="([^"]+)"', svg)
    assert box and path, "not a QR code drawn by documents.qr.svg"
    size = int(box.group(1))
    image = Image.new("L", (size, size), 255)
    x = y = 0.0
    for command, arguments in re.findall(r"([A-Za-z])([^A-Za-z]*)", path.group(1)):
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", arguments)]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        elif command == "h":
            for column in range(int(x), int(x + numbers[0])):
                image.putpixel((column, int(y)), 0)
            x += numbers[0]
        else:
            raise AssertionError(f"unexpected path command {command!r}")
    return image.resize((size * scale, size * scale), Image.Resampling.NEAREST)
