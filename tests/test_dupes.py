import numpy as np
import pytest

from animeparse.demo.synth import generate_face
from animeparse.imageio import dhash
from animeparse.ingest.neardup import NearDupIndex


def _flip_bits(hexhash: str, bits: list[int]) -> str:
    raw = bytearray(bytes.fromhex(hexhash))
    for b in bits:
        raw[b // 8] ^= 1 << (b % 8)
    return raw.hex()


@pytest.mark.parametrize("distance", [0, 1, 12, 15])
def test_match_within_threshold_wherever_the_bits_differ(distance):
    base = "ab" * 32
    index = NearDupIndex(max_bits=15)
    index.add_many([("a", None, base)])
    spread = [16 * k + 3 for k in range(distance)]  # differing bits spread over the whole hash
    assert index.match(_flip_bits(base, spread)) == ("a", None, distance)


def test_no_match_beyond_threshold_and_nearest_wins():
    base = "5c" * 32
    index = NearDupIndex(max_bits=12)
    index.add_many([("far", None, _flip_bits(base, list(range(0, 208, 16)))),  # 13 bits away
                    ("near", "g1", _flip_bits(base, [1, 2]))])
    assert index.match(base) == ("near", "g1", 2)
    index2 = NearDupIndex(max_bits=12)
    index2.add_many([("far", None, _flip_bits(base, list(range(0, 208, 16))))])
    assert index2.match(base) is None
    with pytest.raises(ValueError):
        NearDupIndex(max_bits=65)


def test_distinct_synthetic_portraits_are_not_near_duplicates():
    index = NearDupIndex()
    hashes = [dhash(generate_face(99, i, size=128)[0]) for i in range(60)]
    matches = 0
    for i, h in enumerate(hashes):
        matches += index.match(h) is not None
        index.add_many([(str(i), None, h)])
    assert matches == 0


def test_reencoded_image_is_a_near_duplicate():
    import io

    from PIL import Image

    image = generate_face(99, 1, size=256)[0]
    buf = io.BytesIO()
    Image.fromarray(image).resize((192, 192)).save(buf, "JPEG", quality=80)
    other = np.asarray(Image.open(buf).convert("RGB"))
    index = NearDupIndex()
    index.add_many([("orig", None, dhash(image))])
    found = index.match(dhash(other))
    assert found is not None and found[0] == "orig"
