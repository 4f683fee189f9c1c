import logging

import numpy as np
import pytest
from PIL import Image

from animeparse import FormatError, read_image, read_mask, write_mask
from animeparse.imageio import encode_mask_png, image_size_wh, pixel_sha256


def _gradient(h=20, w=30):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 8, y * 12, (x + y) * 4], axis=2).astype(np.uint8)


@pytest.mark.parametrize("orientation,expected", [
    (1, lambda a: a), (3, lambda a: a[::-1, ::-1]), (6, lambda a: np.rot90(a, -1)), (8, lambda a: np.rot90(a, 1)),
    (2, lambda a: a[:, ::-1]),
], ids=["none", "rot180", "rot90cw", "rot90ccw", "mirror"])
def test_exif_orientation_applied(tmp_path, orientation, expected):
    pixels = _gradient()
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    img.save(path, exif=exif)
    out = read_image(path)
    assert np.array_equal(out, expected(pixels))
    assert image_size_wh(path) == (out.shape[1], out.shape[0])


@pytest.mark.parametrize("mode", ["L", "RGBA", "LA", "CMYK", "P", "I;16"])
def test_modes_become_rgb_with_warning(tmp_path, caplog, mode):
    pixels = _gradient()
    if mode == "I;16":
        img = Image.fromarray(pixels[:, :, 0].astype(np.uint16) * 257)
    else:
        img = Image.fromarray(pixels).convert(mode)
    path = tmp_path / ("x.tiff" if mode == "CMYK" else "x.png")
    img.save(path)
    with caplog.at_level(logging.WARNING):
        out = read_image(path)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    assert f"mode {mode}" in caplog.text
    if mode == "I;16":
        assert np.array_equal(out[:, :, 0], pixels[:, :, 0])  # 16-bit scaled back to 8-bit exactly
    if mode == "L":
        assert np.array_equal(out[:, :, 0], np.asarray(Image.fromarray(pixels).convert("L")))


def test_rgba_composited_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "t.png")
    assert (read_image(tmp_path / "t.png") == 255).all()


def test_decompression_bomb_is_clear_error(tmp_path, monkeypatch):
    Image.fromarray(_gradient(100, 100)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(FormatError, match=r"big.png.*decompression-bomb limit"):
        read_image(tmp_path / "big.png")


@pytest.mark.parametrize("content", [b"", b"not an image at all", "truncated"], ids=["empty", "garbage", "truncated"])
def test_bad_files_name_the_file(tmp_path, content):
    path = tmp_path / "bad.png"
    if content == "truncated":
        noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(noise).save(path)
        assert path.stat().st_size > 4000
        path.write_bytes(path.read_bytes()[:2000])
    else:
        path.write_bytes(content)
    with pytest.raises(FormatError, match="bad.png"):
        read_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(FormatError, match="not found"):
        read_image(tmp_path / "nope.png")


def test_mask_roundtrip_p_mode_with_palette(tmp_path, danbooru):
    mask = np.arange(19, dtype=np.uint8).repeat(3).reshape(3, 19)
    mask[0, 0] = 255
    write_mask(tmp_path / "m.png", mask, palette=danbooru.palette())
    img = Image.open(tmp_path / "m.png")
    assert img.mode == "P" and img.getpalette()[3 * 17: 3 * 18] == list(danbooru["hair"].color)
    assert np.array_equal(read_mask(tmp_path / "m.png"), mask)
    write_mask(tmp_path / "l.png", mask)
    assert Image.open(tmp_path / "l.png").mode == "L" and np.array_equal(read_mask(tmp_path / "l.png"), mask)


def test_rgb_mask_refused_with_fix(tmp_path):
    Image.fromarray(_gradient()).save(tmp_path / "rgb.png")
    with pytest.raises(FormatError, match=r"rgb.png.*mode RGB.*--palette"):
        read_mask(tmp_path / "rgb.png")


def test_16bit_mask_values_checked(tmp_path):
    Image.fromarray(np.array([[1, 300]], np.uint16)).save(tmp_path / "m16.png")
    with pytest.raises(FormatError, match="300"):
        read_mask(tmp_path / "m16.png")


def test_encode_rejects_wrong_dtype():
    with pytest.raises(FormatError, match="uint8"):
        encode_mask_png(np.zeros((2, 2), np.int32))


def test_pixel_hash_equal_across_lossless_formats(tmp_path):
    pixels = _gradient()
    Image.fromarray(pixels).save(tmp_path / "a.png")
    Image.fromarray(pixels).save(tmp_path / "a.tiff")
    Image.fromarray(pixels).save(tmp_path / "a.webp", lossless=True)
    hashes = {pixel_sha256(read_image(tmp_path / f"a.{ext}")) for ext in ("png", "tiff", "webp")}
    assert len(hashes) == 1
    other = pixels.copy()
    other[0, 0, 0] ^= 1
    assert pixel_sha256(other) not in hashes


@pytest.mark.parametrize("kind", ["rgb", "rgb-interlaced", "grey-mask", "rgb16", "palette-mask"])
def test_fast_png_path_equals_pillow(tmp_path, kind):
    """OpenCV decodes plain PNGs for speed; pixels must equal Pillow's exactly (sample ids hash them)."""
    rng = np.random.default_rng(1)
    path = tmp_path / "x.png"
    if kind.startswith("rgb16"):
        import cv2

        cv2.imwrite(str(path), rng.integers(0, 65535, (17, 23, 3), dtype=np.uint16))
    elif kind == "grey-mask":
        Image.fromarray(rng.integers(0, 19, (17, 23), dtype=np.uint8), mode="L").save(path)
    elif kind == "palette-mask":
        img = Image.fromarray(rng.integers(0, 19, (17, 23), dtype=np.uint8), mode="L").convert("P")
        img.putpalette([(i * 37) % 256 for i in range(768)])
        img.save(path)
    else:
        Image.fromarray(rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)).save(path, interlace=kind.endswith("ed"))
    pil = Image.open(path)
    data = path.read_bytes()
    if kind.endswith("mask"):
        expected = np.asarray(pil)
        assert np.array_equal(read_mask(path, data=data), expected)
    else:
        expected = np.asarray(pil.convert("RGB"))
        assert np.array_equal(read_image(path, data=data), expected)
        assert np.array_equal(read_image(path), expected)
