"""The picture of the splits: a PNG, sized by the number of splits, the same bytes for the same splits."""

import io
import struct
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from matplotlib.image import imread

from prodline.config.temporal import TemporalConfig
from prodline.pipeline.matrices.splits import make_splits
from prodline.pipeline.matrices.timeline import LABEL, TEST, TRAIN, timeline_png

PNG = b"\x89PNG\r\n\x1a\n"

# A small year: three splits two months apart, monthly as-of dates.
SMALL = {"feature_start_time": "2023-01-01", "feature_end_time": "2024-01-01",
         "label_start_time": "2023-01-01", "label_end_time": "2024-01-01",
         "model_update_frequency": "2 months", "training_as_of_date_frequencies": "1 month",
         "max_training_histories": "6 months", "training_label_timespans": "3 months",
         "test_as_of_date_frequencies": "1 month", "test_durations": "1 month",
         "test_label_timespans": "3 months"}


def splits_of(**changes):
    return make_splits(TemporalConfig.model_validate({**SMALL, **changes}))


@pytest.fixture(scope="module")
def splits():
    found = splits_of()
    assert [s.key for s in found] == ["2023-05-01", "2023-07-01", "2023-09-01"]
    return found


@pytest.fixture(scope="module")
def picture(splits):
    return timeline_png(splits)


def size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def pixels(png: bytes) -> np.ndarray:
    return (imread(io.BytesIO(png))[:, :, :3] * 255).round().astype(int)


def has_colour(image: np.ndarray, hex_colour: str) -> bool:
    rgb = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
    return bool((np.abs(image - rgb).sum(axis=2) <= 3).any())


def test_the_picture_is_a_png(picture):
    assert picture.startswith(PNG)
    assert picture.endswith(b"IEND\xaeB`\x82")
    assert size(picture) == (1000, 225)  # 10 x (1.2 + 0.35 x 3 splits) inches at 100 dpi


def test_the_height_grows_with_the_splits(splits):
    assert size(timeline_png(splits[:1])) == (1000, 155)
    monthly = splits_of(model_update_frequency="1 month")
    assert len(monthly) == 6  # 2023-04-01 .. 2023-09-01
    assert size(timeline_png(monthly)) == (1000, 330)


def test_training_and_test_dates_are_drawn_in_their_colours(picture):
    image = pixels(picture)
    assert has_colour(image, TRAIN) and has_colour(image, TEST)
    # label windows are grey bars at alpha 0.8 on white: lighter than LABEL itself
    grey = int(LABEL[1:3], 16) * 0.8 + 255 * 0.2
    assert has_colour(image, "#" + f"{round(grey):02x}" * 3)


def test_same_splits_give_the_same_bytes(splits, picture):
    assert timeline_png(splits) == picture
    assert timeline_png(list(splits)) == picture


def test_different_splits_give_different_bytes(splits, picture):
    assert timeline_png(splits[:2]) != picture
    assert timeline_png(splits_of(training_label_timespans="2 months", test_label_timespans="2 months")) \
        != picture
    assert timeline_png(splits, title="another title") != picture


def test_drawing_in_threads_gives_the_same_bytes_and_leaves_pyplot_alone(splits, picture):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    with ThreadPoolExecutor(3) as pool:
        drawn = list(pool.map(lambda _: timeline_png(splits), range(3)))
    assert drawn == [picture] * 3
    assert plt.get_fignums() == before
