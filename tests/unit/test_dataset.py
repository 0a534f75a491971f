"""stseg.dataset: the DAVIS layout checked, every problem named with its file."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from stseg.dataset import DatasetError, inspect_video, list_videos
from stseg.masks import write_label_map


@pytest.fixture()
def dataset(small_demo, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(small_demo, root)
    return root


def test_valid_video_is_described(dataset):
    info = inspect_video(dataset, "twins")
    assert info.frames == tuple(f"{i:05d}" for i in range(10))
    assert (info.width, info.height) == (320, 180)
    assert info.objects == (1, 2)
    assert info.fully_annotated


def test_video_list_file_and_order(dataset):
    (dataset / "ImageSets" / "two.txt").write_text("twins\nfast-ball\n")
    assert list_videos(dataset, video_list="ImageSets/two.txt") == ["twins", "fast-ball"]
    assert list_videos(dataset) == ["crossing", "fast-ball", "twins"]


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(DatasetError, match=r"nowhere: dataset folder does not exist. Set dataset.root"):
        list_videos(tmp_path / "nowhere")


def test_missing_frame_in_the_middle(dataset):
    (dataset / "JPEGImages" / "twins" / "00004.jpg").unlink()
    with pytest.raises(DatasetError, match=r"twins: frames are not contiguous: missing 00004.jpg"):
        inspect_video(dataset, "twins")


def test_non_integer_frame_name(dataset):
    shutil.copy(dataset / "JPEGImages" / "twins" / "00000.jpg", dataset / "JPEGImages" / "twins" / "frame_a.jpg")
    with pytest.raises(DatasetError, match=r"frame names must be integers .*frame_a.jpg"):
        inspect_video(dataset, "twins")


def test_frame_of_another_size(dataset):
    Image.new("RGB", (100, 50)).save(dataset / "JPEGImages" / "twins" / "00003.jpg", format="JPEG")
    with pytest.raises(DatasetError, match=r"00003.jpg: frame size 100x50 differs"):
        inspect_video(dataset, "twins")


def test_annotation_of_another_size(dataset):
    write_label_map(dataset / "Annotations" / "twins" / "00000.png", np.ones((90, 160), np.uint8))
    with pytest.raises(DatasetError, match=r"00000.png: annotation size 160x90 differs from the frame size 320x180"):
        inspect_video(dataset, "twins")


def test_greyscale_annotation(dataset):
    Image.fromarray(np.full((180, 320), 255, np.uint8), "L").save(dataset / "Annotations" / "twins" / "00000.png")
    with pytest.raises(DatasetError, match=r"00000.png: this is a greyscale \(L\) 0/255 mask"):
        inspect_video(dataset, "twins")


def test_empty_first_annotation(dataset):
    write_label_map(dataset / "Annotations" / "twins" / "00000.png", np.zeros((180, 320), np.uint8))
    with pytest.raises(DatasetError, match=r"00000.png: the first-frame annotation has no object"):
        inspect_video(dataset, "twins")


def test_missing_first_annotation(dataset):
    (dataset / "Annotations" / "twins" / "00000.png").unlink()
    with pytest.raises(DatasetError, match=r"00000.png: the first frame's annotation is missing"):
        inspect_video(dataset, "twins")


def test_unreadable_jpeg(dataset):
    (dataset / "JPEGImages" / "twins" / "00002.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(DatasetError, match=r"00002.jpg: unreadable JPEG"):
        inspect_video(dataset, "twins")


def test_every_problem_is_reported_at_once(dataset):
    (dataset / "JPEGImages" / "twins" / "00004.jpg").unlink()
    write_label_map(dataset / "Annotations" / "twins" / "00000.png", np.zeros((180, 320), np.uint8))
    with pytest.raises(DatasetError) as error:
        inspect_video(dataset, "twins")
    assert "missing 00004.jpg" in str(error.value) and "has no object" in str(error.value)


def test_validation_cache_notices_changes(dataset, tmp_path):
    cache = tmp_path / "cache"
    assert inspect_video(dataset, "twins", cache).objects == (1, 2)
    assert (cache / "twins.json").is_file()
    write_label_map(dataset / "Annotations" / "twins" / "00000.png", np.zeros((180, 320), np.uint8))
    with pytest.raises(DatasetError, match="has no object"):
        inspect_video(dataset, "twins", cache)
