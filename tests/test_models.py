import numpy as np
import pytest
from conftest import shared_dataset

from stseg.inference import run_model
from stseg.masks import read_label_map, read_palette
from stseg.metrics import score_video
from stseg.models import REGISTRY, OptionError, UnknownModelError, build_model, get_spec, known_models

BUILTINS = ["copy", "flow", "global", "appearance"]


def test_registry_lists_the_builtins():
    assert set(BUILTINS) <= set(known_models())
    assert all(not REGISTRY[m].gpu for m in BUILTINS)


def test_unknown_model_lists_the_known_ones():
    known = "appearance, copy, copy-foreground, cutie, flow, global, livos, precomputed, sam2, tmo, xmem"
    with pytest.raises(UnknownModelError, match=rf"unknown model type 'cutie2'; known models: {known}\. Fix"):
        get_spec("cutie2")


def test_unknown_option_is_named():
    with pytest.raises(OptionError, match=r"unknown option\(s\) \['speed'\]; known options: \['preset', 'scale', 'soft'\]"):
        build_model("flow", {"speed": 3})


@pytest.mark.parametrize("model", BUILTINS)
def test_builtin_writes_every_frame(model, small_demo, tmp_path):
    video = "crossing"
    annotation = small_demo / "Annotations" / video / "00000.png"
    out = tmp_path / model / video
    stats = run_model(model, {}, small_demo / "JPEGImages" / video, annotation, out, progress=False)
    files = sorted(out.glob("*.png"))
    assert [p.stem for p in files] == [f"{i:05d}" for i in range(10)]
    assert stats["frames"] == 10
    assert np.array_equal(read_label_map(files[0]), read_label_map(annotation))
    assert read_palette(files[3]) == read_palette(annotation)
    for path in files:
        assert set(np.unique(read_label_map(path))) <= {0, 1, 2, 3}
    assert not list(tmp_path.glob(f"{model}/.*partial"))


def mean_j(gt_dir, pred_dir):
    return float(score_video(gt_dir, pred_dir).j.mean())


def test_flow_beats_first_mask_copy_on_real_davis(tmp_path):
    root = shared_dataset("davis-fullgt")
    results = {}
    for model in ("copy", "flow"):
        values = []
        for video in ("blackswan", "car-shadow"):
            out = tmp_path / model / video
            run_model(model, {}, root / "JPEGImages" / video, root / "Annotations" / video / "00000.png", out, progress=False)
            values.append(mean_j(root / "Annotations" / video, out))
        results[model] = values
    # flow follows the swan and the car; copy keeps the first frame's position
    for flow_j, copy_j in zip(results["flow"], results["copy"]):
        assert flow_j > copy_j + 0.1
    assert min(results["flow"]) > 0.55


def test_global_motion_follows_a_camera_pan(small_demo, tmp_path):
    from stseg.demo import write_demo

    root = tmp_path / "data"
    write_demo(root, ["pan-rigid"], width=427, height=240, max_frames=20)
    scores = {}
    for model in ("copy", "global"):
        out = tmp_path / model
        run_model(model, {}, root / "JPEGImages" / "pan-rigid", root / "Annotations" / "pan-rigid" / "00000.png", out, progress=False)
        scores[model] = mean_j(root / "Annotations" / "pan-rigid", out)
    assert scores["global"] > 0.9 > scores["copy"]


def test_corrupt_frame_is_named(small_demo, tmp_path):
    import shutil

    from stseg.dataset import DatasetError

    shutil.copytree(small_demo / "JPEGImages" / "twins", tmp_path / "frames")
    data = (tmp_path / "frames" / "00005.jpg").read_bytes()
    (tmp_path / "frames" / "00005.jpg").write_bytes(data[:20])
    with pytest.raises(DatasetError, match=r"00005.jpg: cannot decode this JPEG"):
        run_model("copy", {}, tmp_path / "frames", small_demo / "Annotations" / "twins" / "00000.png", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


@pytest.fixture
def sparse_crossing(small_demo, tmp_path):
    """The demo's 'crossing' with object 3 left out of frame 0 and given on frame 4 (its ground truth there)."""
    import shutil

    from stseg.masks import write_label_map

    root = tmp_path / "sparse"
    shutil.copytree(small_demo / "JPEGImages" / "crossing", root / "JPEGImages" / "crossing")
    source = small_demo / "Annotations" / "crossing"
    (root / "Annotations" / "crossing").mkdir(parents=True)
    first, later = read_label_map(source / "00000.png"), read_label_map(source / "00004.png")
    write_label_map(root / "Annotations" / "crossing" / "00000.png", np.where(first == 3, 0, first).astype(np.uint8))
    write_label_map(root / "Annotations" / "crossing" / "00004.png", np.where(later == 3, 3, 0).astype(np.uint8))
    return root, source


@pytest.mark.parametrize("model", BUILTINS)
def test_an_object_first_annotated_later_is_added_at_its_frame(model, sparse_crossing, tmp_path):
    root, source = sparse_crossing
    given = [root / "Annotations" / "crossing" / f"{f}.png" for f in ("00000", "00004")]
    out = tmp_path / model
    run_model(model, {}, root / "JPEGImages" / "crossing", given, out, progress=False)
    maps = {p.stem: read_label_map(p) for p in sorted(out.glob("*.png"))}
    assert all(3 not in np.unique(maps[f"{t:05d}"]) for t in range(4))
    truth = read_label_map(source / "00004.png") == 3
    assert np.array_equal(maps["00004"] == 3, truth)  # its given mask, as frame 0 is the annotation
    assert all(3 in np.unique(maps[f"{t:05d}"]) for t in range(5, 10))  # and followed after it
    plain = tmp_path / "plain"
    run_model(model, {}, root / "JPEGImages" / "crossing", given[:1], plain, progress=False)
    for t in range(4):  # before the new object nothing changes
        assert np.array_equal(maps[f"{t:05d}"], read_label_map(plain / f"{t:05d}.png"))
