"""SAM2 through the real sam2 package: checkpoints the tests make, bounded memory, the workflow (fine-tuning through
every stage: tests/workflow/test_mose_config.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    REPO,
    shared_dataset,
)

torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch torchvision)")
pytest.importorskip("sam2", reason="sam2 is not installed (SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2)")
from stseg.inference import run_model  # noqa: E402
from stseg.masks import read_label_map  # noqa: E402
from stseg.models.sam2 import CheckpointError, LazyFrames, build_predictor, memory_window  # noqa: E402

TINY = {"size": "tiny", "image_size": 256, "device": "cpu"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A randomly initialised SAM 2.1 tiny model saved as a release checkpoint is ({"model": state_dict})."""
    torch.manual_seed(0)
    predictor = build_predictor("tiny", None, "cpu", 256)
    path = tmp_path_factory.mktemp("ckpt") / "sam2.1_hiera_tiny_random.pt"
    torch.save({"model": predictor.state_dict()}, path)
    return path


def test_checkpoint_round_trip_through_the_real_loader(checkpoint):
    saved = torch.load(checkpoint, weights_only=True)["model"]
    torch.manual_seed(123)  # another random init, overwritten by the checkpoint
    loaded = build_predictor("tiny", str(checkpoint), "cpu", 256).state_dict()
    assert saved.keys() == loaded.keys()
    assert all(torch.equal(saved[k], loaded[k]) for k in saved)


def test_missing_checkpoint_names_path_and_size(tmp_path, small_demo):
    video = small_demo / "JPEGImages" / "twins"
    with pytest.raises(CheckpointError, match=r"nope.pt: SAM2 checkpoint not found. Model size 'tiny' expects .*sam2.1_hiera_tiny.pt"):
        run_model("sam2", {**TINY, "checkpoint": str(tmp_path / "nope.pt")}, video,
                  small_demo / "Annotations" / "twins" / "00000.png", tmp_path / "out", progress=False)
    with pytest.raises(CheckpointError, match=r"no checkpoint configured for model size 'base_plus'"):
        run_model("sam2", {}, video, small_demo / "Annotations" / "twins" / "00000.png", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def reference_masks(checkpoint, frame_dir, annotation, probabilities=None):
    """The unmodified predictor, used as its README shows: init_state on the folder, masks, propagate.
    ``probabilities``: a dict that receives, per frame, each object's sigmoid of the logits it gives."""
    predictor = build_predictor("tiny", str(checkpoint), "cpu", 256)
    labels = read_label_map(annotation)
    objects = [int(i) for i in np.unique(labels) if i]
    out = {}
    with torch.inference_mode():
        state = predictor.init_state(str(frame_dir))
        for obj in objects:
            predictor.add_new_mask(state, frame_idx=0, obj_id=obj, mask=labels == obj)
        for frame_idx, obj_ids, logits in predictor.propagate_in_video(state):
            logits = logits[:, 0]
            if probabilities is not None:
                probabilities[frame_idx] = {int(o): torch.sigmoid(logits[i].float()).numpy() for i, o in enumerate(obj_ids)}
            best = logits.argmax(0).numpy()
            ids = np.asarray(obj_ids, np.uint8)[best]
            out[frame_idx] = np.where(logits.max(0).values.numpy() > 0, ids, 0).astype(np.uint8)
    return out


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    from stseg.demo import write_demo

    root = tmp_path_factory.mktemp("sam2data")
    write_demo(root, ["crossing"], width=160, height=96, max_frames=22)  # longer than the memory window
    return root


def test_bounded_memory_gives_the_unmodified_predictors_masks(checkpoint, long_video, tmp_path):
    """Both ways, the masks of the unmodified predictor; with ``probabilities: true`` the npz beside each frame's
    mask holds round(255 x sigmoid(logit)) of every object, the logits being the predictor's own."""
    from stseg.probabilities import quantize, read_probabilities

    frame_dir = long_video / "JPEGImages" / "crossing"
    annotation = long_video / "Annotations" / "crossing" / "00000.png"
    theirs: dict = {}
    reference = reference_masks(checkpoint, frame_dir, annotation, theirs)
    for bounded in (True, False):
        out = tmp_path / str(bounded)
        run_model("sam2", {**TINY, "checkpoint": str(checkpoint), "bounded_memory": bounded, "probabilities": bounded},
                  frame_dir, annotation, out, progress=False)
        for t in range(1, 22):
            assert np.array_equal(read_label_map(out / f"{t:05d}.png"), reference[t]), (bounded, t)
    kept_dir = tmp_path / "True" / "probs"
    assert not (kept_dir / "00000.npz").exists() and not (tmp_path / "False" / "probs").exists()  # frame 0: none
    for t in range(1, 22):
        kept = read_probabilities(kept_dir / f"{t:05d}.npz", reference[t].shape)
        assert sorted(kept) == sorted(theirs[t])
        assert all(np.array_equal(quantize(kept[o]), quantize(theirs[t][o])) for o in kept), t
    assert sum(int((m > 0).sum()) for m in reference.values()) > 0  # not trivially empty
    scores = (tmp_path / "True" / "scores.csv").read_text().splitlines()
    assert scores[0] == "frame,object,score" and len(scores) == 1 + 21 * 3


def stseg_sam2_job(checkpoint, dataset, video, out, annotations=("00000",), **options):
    """``stseg infer`` with the sam2 model at its defaults (only size, image size and device set), one thread;
    ``annotations``: the frames whose annotation PNGs the job is given (the first, then later ones)."""
    import os
    import subprocess
    import sys

    from sam2_reference import IMAGE_SIZE, ONE_THREAD

    settings = {"size": "tiny", "image_size": IMAGE_SIZE, "device": "cpu", "checkpoint": str(checkpoint), **options}
    subprocess.run(
        [sys.executable, "-m", "stseg.cli", "infer", "--model-type", "sam2", "--options", json.dumps(settings), "--quiet",
         "--frames", str(dataset / "JPEGImages" / video), "--annotation",
         *(str(dataset / "Annotations" / video / f"{a}.png") for a in annotations),
         "--out", str(out)],
        check=True, cwd=REPO, env={**os.environ, **ONE_THREAD, "PYTHONPATH": str(REPO)}, capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def upstream_checkpoint(tmp_path_factory):
    from sam2_reference import make_checkpoint

    return make_checkpoint(tmp_path_factory.mktemp("vos") / "sam2.1_hiera_tiny_random.pt")


@pytest.mark.slow
@pytest.mark.parametrize("bounded", [True, False])
def test_defaults_give_the_masks_of_sam2s_vos_inference_script(upstream_checkpoint, tmp_path, bounded):
    """stseg's sam2 job equals SAM2's own tools/vos_inference.py (run as a script, or its stored output) on every
    frame after the first of a real two-object DAVIS video longer than the memory window."""
    import os

    from sam2_reference import STORED, VIDEO, close_to, pack, run_vos_inference, stored_masks

    dataset = shared_dataset("davis-multiobj")
    ours = pack(stseg_sam2_job(upstream_checkpoint, dataset, VIDEO, tmp_path / "stseg", bounded_memory=bounded))
    checkout = os.environ.get("STSEG_SAM2_REPO")
    if checkout:  # the script itself
        theirs = pack(run_vos_inference(Path(checkout), upstream_checkpoint, dataset, tmp_path))
        assert theirs.keys() == ours.keys() and len(ours) == 49
        for frame in theirs:
            differ = int((theirs[frame] != ours[frame]).sum())
            assert differ == 0, f"frame {frame}: {differ} pixels differ from vos_inference.py"
    else:  # what the script wrote (python tests/sam2_reference.py), within the CPU kernels' tolerance
        close, said = close_to(stored_masks(STORED), ours)
        assert close, f"stseg's masks are not the stored output of vos_inference.py: {said}"


@pytest.mark.slow
@pytest.mark.parametrize("bounded", [True, pytest.param(False, marks=pytest.mark.skipif(
    not os.environ.get("STSEG_SAM2_REPO"), reason="the unbounded predictor's run only beside the script (STSEG_SAM2_REPO)"))])
def test_an_object_first_annotated_later_as_vos_inference_tracks_it(upstream_checkpoint, tmp_path, bounded):
    """A video whose second object is first annotated on frame 5 (sparse annotations, YouTube-VOS style): stseg's
    sam2 job equals vos_inference.py with --track_object_appearing_later_in_video (the script itself, or its
    stored output) on every frame after the first."""
    import os

    from sam2_reference import LATER_FLAG, LATER_FRAME, STORED_LATER, VIDEO, close_to, pack, run_vos_inference, sparse_dataset, stored_masks

    sparse = sparse_dataset(shared_dataset("davis-multiobj"), tmp_path / "sparse")
    ours = pack(stseg_sam2_job(upstream_checkpoint, sparse, VIDEO, tmp_path / "stseg", ("00000", LATER_FRAME),
                               bounded_memory=bounded))
    assert all(2 not in np.unique(ours[f]) for f in ours if f < LATER_FRAME)  # absent before its first mask
    assert all(2 in np.unique(ours[f]) for f in ours if f == LATER_FRAME)
    checkout = os.environ.get("STSEG_SAM2_REPO")
    if checkout:
        (tmp_path / "upstream").mkdir()
        theirs = pack(run_vos_inference(Path(checkout), upstream_checkpoint, sparse, tmp_path / "upstream", LATER_FLAG))
        assert theirs.keys() == ours.keys() and len(ours) == 49
        for frame in theirs:
            differ = int((theirs[frame] != ours[frame]).sum())
            assert differ == 0, f"frame {frame}: {differ} pixels differ from vos_inference.py {LATER_FLAG}"
    else:
        close, said = close_to(stored_masks(STORED_LATER), ours)
        assert close, f"stseg's masks are not the stored output of vos_inference.py {LATER_FLAG}: {said}"


def test_the_stored_masks_tolerance_tells_a_wrong_answer_from_a_cpus_pixels():
    """The tolerance of the comparison without the script (tests/sam2_reference.py): the stored masks with a few
    outline pixels flipped pass; shifted by three pixels, with an object lost, or with two frames swapped, they fail."""
    from sam2_reference import STORED, close_to, stored_masks

    stored = stored_masks(STORED)
    assert close_to(stored, stored)[0]
    rng = np.random.default_rng(0)
    nudged = {}
    for frame, labels in stored.items():  # a CPU's difference: a few pixels at the outlines change hands
        out = labels.copy()
        edge = np.argwhere(labels != np.roll(labels, 1, axis=1))
        for y, x in edge[rng.choice(len(edge), size=min(20, len(edge)), replace=False)]:
            out[y, x] = labels[y, x - 1]
        nudged[frame] = out
    assert close_to(stored, nudged)[0]
    assert not close_to(stored, {f: np.roll(m, 3, axis=1) for f, m in stored.items()})[0]
    assert not close_to(stored, {f: np.where(m == 2, 0, m).astype(m.dtype) for f, m in stored.items()})[0]
    frames = sorted(stored)
    swapped = {**stored, frames[10]: stored[frames[30]], frames[30]: stored[frames[10]]}
    assert not close_to(stored, swapped)[0]


def test_postprocessing_is_an_option_and_changes_the_masks(upstream_checkpoint, tmp_path):
    """The sam2 package builder's post-processing (vos_inference.py's --apply_postprocessing) is off by default."""
    from stseg.demo import write_demo
    from stseg.models.sam2 import SAM2Propagator

    assert SAM2Propagator.defaults["apply_postprocessing"] is False
    video = tmp_path / "data"
    write_demo(video, ["crossing"], width=160, height=96, max_frames=6)
    plain = stseg_sam2_job(upstream_checkpoint, video, "crossing", tmp_path / "plain")
    post = stseg_sam2_job(upstream_checkpoint, video, "crossing", tmp_path / "post", apply_postprocessing=True)
    differ = sum(int((read_label_map(p) != read_label_map(post / p.name)).sum()) for p in sorted(plain.glob("*.png")))
    assert differ > 0


def test_bounded_state_holds_only_the_window(checkpoint, long_video):
    from stseg.models import build_model

    model = build_model("sam2", {**TINY, "checkpoint": str(checkpoint)})
    files = sorted((long_video / "JPEGImages" / "crossing").glob("*.jpg"))
    labels = read_label_map(long_video / "Annotations" / "crossing" / "00000.png")
    held = []
    original = LazyFrames.__getitem__
    loads = []

    def counting(self, index):
        loads.append(index)
        return original(self, index)

    LazyFrames.__getitem__ = counting
    try:
        generator = model.segment_video(files, labels)
        for _ in generator:
            state = generator.gi_frame.f_locals["state"]
            held.append(max(len(d["non_cond_frame_outputs"]) for d in state["output_dict_per_obj"].values()))
            window = memory_window(generator.gi_frame.f_locals["predictor"])
    finally:
        LazyFrames.__getitem__ = original
    assert max(held) <= window < 21
    assert sorted(set(loads)) == list(range(1, 22))  # each later frame decoded when needed, never all at once


@pytest.mark.slow
def test_a_batch_builds_the_predictor_once_and_gives_each_videos_masks_of_its_own_job(checkpoint, small_demo, tmp_path):
    """inference.videos_per_job: one predictor for every video of the batch, the same bytes as one job per video
    (the first video's state leaves nothing behind in the predictor)."""
    from helpers import tree_digest

    from stseg.batching import BatchVideo, run_batch

    options = {**TINY, "checkpoint": str(checkpoint)}
    videos = ["twins", "crossing", "fast-ball"]
    items = [BatchVideo(v, str(small_demo / "JPEGImages" / v), (str(small_demo / "Annotations" / v / "00000.png"),), "s")
             for v in videos]
    record = run_batch("sam2", options, items, tmp_path / "staged", tmp_path / "record.json")
    loads = [row["load_seconds"] for row in record["videos"]]
    assert loads[0] > 0 and loads[1:] == [0.0, 0.0]  # built on the first video only
    for video in videos:
        run_model("sam2", options, small_demo / "JPEGImages" / video, small_demo / "Annotations" / video / "00000.png",
                  tmp_path / "alone" / video, progress=False)
        assert tree_digest(tmp_path / "staged" / video) == tree_digest(tmp_path / "alone" / video), video
