"""The only pixel I/O in animeparse.

Images come out as HxWx3 uint8 RGB with EXIF orientation applied; masks as HxW uint8 class-index arrays.
Anything else (grey, RGBA, LA, CMYK, 16-bit, palette images) is converted with a logged warning, and every
failure is a :class:`FormatError` naming the file and what to do.
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import FormatError
from .fsutil import atomic_write_bytes

__all__ = [
    "IMAGE_EXTENSIONS",
    "read_image",
    "read_mask",
    "read_binary_mask",
    "encode_mask_png",
    "encode_rgb_png",
    "write_mask",
    "pixel_sha256",
    "image_size_wh",
    "dhash",
    "png_with_palette",
]

log = logging.getLogger(__name__)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def _open(path: Path, data: bytes | None = None) -> Image.Image:
    """Open and fully decode (from ``data`` when given, else the file); turn Pillow's many failure modes into one
    FormatError naming ``path``. Keeps the decompression-bomb limit."""
    try:
        if data is None:
            data = Path(path).read_bytes()
        damage = _png_damage(data)
        if damage:
            raise FormatError(f"{damage}: the file is corrupt; restore it from a backup or export it again", path=path)
        with warnings.catch_warnings():
            # Pillow warns (not raises) between 1x and 2x MAX_IMAGE_PIXELS; treat that as the error it is.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            img.load()
        return img
    except FileNotFoundError as err:
        raise FormatError("file not found; check the path", path=path) from err
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise _bomb_error(err, path) from err
    except UnidentifiedImageError as err:
        raise FormatError("is not an image Pillow can read (wrong extension, empty or corrupt file)",
                          path=path) from err
    except (OSError, ValueError, SyntaxError) as err:
        raise FormatError(f"image could not be decoded ({err}); the file is truncated or corrupt", path=path) from err


def _bomb_error(err: Exception, path: Path) -> FormatError:
    return FormatError(f"image is larger than Pillow's decompression-bomb limit of {Image.MAX_IMAGE_PIXELS} pixels "
                       f"({err}); if the file is trusted, downscale it first", path=path)


def _fast_png(data: bytes, mode: str) -> npt.NDArray[np.uint8] | None:
    """Decode a plain PNG with OpenCV, ~1.7x faster than Pillow and pixel-identical (PNG is lossless).

    Only 8-bit, non-transparent PNGs whose Pillow mode is ``mode`` ("RGB" or "L") and that carry no EXIF
    orientation; anything else, and any file OpenCV cannot decode (truncated, corrupt), returns None so the caller
    takes the Pillow path with its checks and errors. JPEG always goes through Pillow: two JPEG decoders may
    differ by a pixel, and sample ids hash decoded pixels.
    """
    if not data.startswith(_PNG_SIGNATURE) or len(data) < 33 or data[24] != 8:  # IHDR bit depth
        return None
    if b"eXIf" in data:  # may carry an orientation; Pillow's getexif() would decode the whole image to find out
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:  # header only
            if img.mode != mode or "transparency" in img.info:
                return None
            size_wh = img.size
    except Exception:  # noqa: BLE001 - any header problem: let the Pillow path report it
        return None
    if size_wh[0] * size_wh[1] > (Image.MAX_IMAGE_PIXELS or float("inf")):
        return None  # Pillow's path raises the decompression-bomb error
    # OpenCV's decoder (libpng with its default error handler) prints to the process's stderr on a truncated or
    # corrupt file: only sound files that end in IEND go to it; the Pillow path reports the rest as one FormatError
    if _png_damage(data) is not None or data[-8:-4] != b"IEND":
        return None
    import cv2

    flag = (cv2.IMREAD_COLOR_RGB if mode == "RGB" else cv2.IMREAD_GRAYSCALE) | cv2.IMREAD_IGNORE_ORIENTATION
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if arr is None or arr.shape[:2] != (size_wh[1], size_wh[0]):
        return None
    return arr.astype(np.uint8, copy=False)  # IMREAD_COLOR_RGB / GRAYSCALE decode to uint8: no copy


def read_image(path: Path | str, *, data: bytes | None = None) -> npt.NDArray[np.uint8]:
    """Read an image as HxWx3 uint8 RGB, EXIF orientation applied (``data``: the file's bytes, already read).

    Grey (L, I;16, I, F), LA, RGBA, P, CMYK and YCbCr inputs are converted with a logged warning; alpha is
    composited on white (what a viewer shows). 16-bit and float images are scaled to 0..255.
    """
    path = Path(path)
    if data is None:
        try:
            data = path.read_bytes()
        except FileNotFoundError as err:
            raise FormatError("file not found; check the path", path=path) from err
        except OSError as err:
            raise FormatError(f"could not be read ({err.strerror or err})", path=path) from err
    fast = _fast_png(data, "RGB")
    if fast is not None:
        return fast
    img = _open(path, data)
    try:
        img = ImageOps.exif_transpose(img) or img
    except Exception as err:  # a malformed EXIF block must not hide the pixels; Pillow raises various types here
        log.warning("%s: EXIF orientation ignored (%s)", path, err)
    if img.mode == "RGB":
        return np.asarray(img, dtype=np.uint8).copy()
    log.warning("%s: image mode %s converted to RGB", path, img.mode)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img).astype(np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        grey = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8).copy()
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def image_size_wh(path: Path | str) -> tuple[int, int]:
    """(width, height) after EXIF orientation, reading only the header where possible."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                orientation = img.getexif().get(0x0112, 1)
    except FileNotFoundError as err:
        raise FormatError("file not found; check the path", path=path) from err
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise _bomb_error(err, path) from err
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise FormatError(f"is not a readable image ({err})", path=path) from err
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def read_mask(path: Path | str, *, data: bytes | None = None) -> npt.NDArray[np.uint8]:
    """Read a class-index mask as HxW uint8.

    Accepts L-mode and P-mode PNGs (the palette index is the class id), and 16-bit greyscale whose values are
    all <= 255. RGB/RGBA masks are refused: they are colour-coded and need a palette to decode (see ingest).
    EXIF orientation is not applied: masks are written by tools that ignore it. ``data``: the file's bytes.
    """
    path = Path(path)
    fast = _fast_png(data, "L") if data is not None else None
    if fast is not None:
        return fast
    img = _open(path, data)
    if img.mode in ("L", "P"):
        return np.asarray(img, dtype=np.uint8).copy()
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img)
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise FormatError(
                f"16-bit mask has values up to {int(arr.max())}; class ids must be 0..254 (255 = ignore)", path=path
            )
        return arr.astype(np.uint8)
    if img.mode == "1":
        return np.asarray(img, dtype=np.uint8).copy()
    raise FormatError(
        f"mask has mode {img.mode}; expected a single-channel index PNG (L or P mode). For colour-coded masks "
        "use ingest's --palette option",
        path=path,
    )


def read_binary_mask(path: Path | str) -> npt.NDArray[np.bool_]:
    """Read a binary part mask as HxW bool: True where any colour channel is nonzero.

    L, 1, P, I;16, RGB (0/255 or 0/1); in LA/RGBA alpha only gates (a transparent pixel is unset), because
    exporters write alpha 255 everywhere. Raises FormatError naming the file when it does not decode.
    """
    path = Path(path)
    img = _open(path)
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA")  # the palette colour, not the index, says whether the pixel is painted
    elif img.mode not in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F", "RGB", "RGBA"):
        img = img.convert("L")
    arr = np.asarray(img)
    if arr.ndim == 2:
        return np.asarray(arr != 0)
    if img.mode in ("LA", "RGBA"):
        return np.asarray(arr[:, :, :-1].any(axis=2) & (arr[:, :, -1] != 0))
    return np.asarray(arr.any(axis=2))


def encode_mask_png(mask_hw: npt.NDArray[np.uint8], *, palette: list[int] | None = None) -> bytes:
    """Encode an HxW uint8 mask as PNG: P-mode with ``palette`` (768 ints) if given, else L-mode."""
    if mask_hw.ndim != 2 or mask_hw.dtype != np.uint8:
        raise FormatError(f"mask must be HxW uint8, got shape {mask_hw.shape} dtype {mask_hw.dtype}")
    mask_hw = np.ascontiguousarray(mask_hw)
    size_wh = (mask_hw.shape[1], mask_hw.shape[0])
    img = Image.frombytes("P" if palette is not None else "L", size_wh, mask_hw.tobytes())
    if palette is not None:
        img.putpalette(palette)
    buf = io.BytesIO()
    # compress_level 1: masks are mostly flat runs, level 1 is ~5x faster than 6 and only slightly larger
    img.save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()


def encode_rgb_png(image_hw3: npt.NDArray[np.uint8]) -> bytes:
    """Encode an HxWx3 uint8 RGB image (a colour-coded mask) as PNG, compressed like :func:`encode_mask_png`."""
    if image_hw3.ndim != 3 or image_hw3.shape[2] != 3 or image_hw3.dtype != np.uint8:
        raise FormatError(f"image must be HxWx3 uint8, got shape {image_hw3.shape} dtype {image_hw3.dtype}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image_hw3), "RGB").save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()


def encode_jpeg(image_hw3: npt.NDArray[np.uint8], *, quality: int = 95) -> bytes:
    """Encode an HxWx3 uint8 RGB image as a baseline JPEG (Pillow, 4:2:0; lossy: for layouts whose loaders read
    ``.jpg`` only)."""
    if image_hw3.ndim != 3 or image_hw3.shape[2] != 3 or image_hw3.dtype != np.uint8:
        raise FormatError(f"image must be HxWx3 uint8, got shape {image_hw3.shape} dtype {image_hw3.dtype}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image_hw3), "RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def write_mask(path: Path | str, mask_hw: npt.NDArray[np.uint8], *, palette: list[int] | None = None) -> bytes:
    """Write an HxW uint8 mask atomically (see :func:`encode_mask_png`); returns the bytes written."""
    data = encode_mask_png(mask_hw, palette=palette)
    atomic_write_bytes(Path(path), data)
    return data


def pixel_sha256(image_hwc: npt.NDArray[np.uint8]) -> str:
    """SHA-256 of decoded pixels plus shape: equal for the same picture saved as PNG, WebP-lossless, TIFF ..."""
    h = hashlib.sha256()
    h.update(f"{image_hwc.shape[0]}x{image_hwc.shape[1]}x{image_hwc.shape[2]}:".encode())
    h.update(np.ascontiguousarray(image_hwc, dtype=np.uint8).tobytes())
    return h.hexdigest()


def dhash(image_hwc: npt.NDArray[np.uint8]) -> str:
    """256-bit difference hash as 64 hex chars: grey, box-resized to 17x16, each pixel compared with its right
    neighbour. The near-duplicate key: re-encodes, resizes and light edits move it by a few bits (at most 12 seen),
    while aligned portraits that are different pictures stay 15+ bits apart (a 64-bit hash put them 2 apart)."""
    grey = Image.fromarray(image_hwc).convert("L").resize((17, 16), Image.Resampling.BOX)
    px = np.asarray(grey, dtype=np.int16)
    return np.packbits(px[:, 1:] > px[:, :-1]).tobytes().hex()


def png_with_palette(data: bytes, palette: list[int] | None) -> bytes | None:
    """Turn an 8-bit greyscale or palette PNG into a P-mode PNG with ``palette`` (768 ints), or with
    ``palette=None`` into an L-mode PNG, without decompressing: the pixel bytes (IDAT) of all these are one index
    per pixel, so only IHDR's colour type and the PLTE chunk change; ancillary chunks (tRNS, text ...) are
    dropped. Returns None when the file is not such a PNG (the caller then decodes and re-encodes). The caller
    must still decode the mask once to check its ids."""
    import struct
    import zlib

    if not data.startswith(_PNG_SIGNATURE) or _png_damage(data):
        return None  # damaged: copied with fresh CRCs it would become a valid file with other pixels
    chunks: list[tuple[bytes, bytes]] = []
    pos = len(_PNG_SIGNATURE)
    try:
        while pos < len(data):
            (length,) = struct.unpack(">I", data[pos:pos + 4])
            kind = data[pos + 4:pos + 8]
            chunks.append((kind, data[pos + 8:pos + 8 + length]))
            pos += 12 + length
            if kind == b"IEND":
                break
    except struct.error:
        return None
    if not chunks or chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13 or chunks[-1][0] != b"IEND":
        return None
    ihdr = bytearray(chunks[0][1])
    bit_depth, colour_type, interlace = ihdr[8], ihdr[9], ihdr[12]
    if bit_depth != 8 or colour_type not in (0, 3) or interlace != 0:
        return None
    ihdr[9] = 0 if palette is None else 3

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    out = [_PNG_SIGNATURE, chunk(b"IHDR", bytes(ihdr))]
    if palette is not None:
        out.append(chunk(b"PLTE", bytes(palette[:768])))
    out += [chunk(kind, body) for kind, body in chunks if kind == b"IDAT"]
    out.append(chunk(b"IEND", b""))
    return b"".join(out)


# -- PNG chunk CRCs ------------------------------------------------------------------------------------------------
def _png_damage(data: bytes) -> str | None:
    """What is wrong with a PNG's chunk structure (a chunk failing its CRC, or cut off by the end of the file), or
    None when it is sound or not a PNG. Pillow checks no CRC of the pixel data (IDAT) and stops inflating before
    zlib's own checksum, so without this a damaged IDAT decodes to other pixels without an error; libpng (the OpenCV
    path) checks. Chunks after IEND are never read, so the walk stops there."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    view = memoryview(data)
    pos, size = len(_PNG_SIGNATURE), len(data)
    while pos + 8 <= size:
        length = int.from_bytes(view[pos:pos + 4], "big")
        kind = bytes(view[pos + 4:pos + 8])
        if kind == b"IEND":
            return None
        end = pos + 12 + length
        name = kind.decode("latin-1")
        if end > size:
            return f"PNG chunk {name!r} at byte {pos} ends past the end of the file ({size} bytes): it is truncated"
        if zlib.crc32(view[pos + 4:end - 4]) != int.from_bytes(view[end - 4:end], "big"):
            return f"PNG chunk {name!r} at byte {pos} fails its CRC check"
        pos = end
    return None
