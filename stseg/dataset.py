"""Discovery and validation of a dataset in the DAVIS / MOSE layout.

Layout::

    <root>/JPEGImages/<video>/<frame>.jpg     frames, integer names (00000.jpg, ...)
    <root>/Annotations/<video>/<frame>.png    palette PNGs, pixel value = object id
    <root>/ImageSets/.../<list>.txt           optional: one video name per line

The semi-supervised task needs the first frame's annotation; a video that has an
annotation for every frame also has ground truth (the demo, DAVIS, MOSE train).

Validation runs when the workflow is parsed, before any job starts, and reports
every problem at once, each naming the file and saying what to do.  It decodes
every JPEG in full with libjpeg-turbo in strict mode (``simplejpeg``: a truncated
frame, or one whose image data libjpeg finds corrupt, is refused, where OpenCV
would fill the damage with grey and only warn), reads the header of every
annotation PNG and the first annotation's pixels; the result is cached per video
under a fingerprint of the file names, sizes, mtimes and ctimes, so a re-parse (a
rerun, or every cluster job) costs one ``scandir`` per video.  The first parse
of a dataset decodes every frame (``benchmarks/bench_validation.py``).

**Frames.**  Integer names (``00000.jpg``, ...), every frame of the video or a
regular stride (YouTube-VOS ships every 5th frame: ``00000.jpg, 00005.jpg,
...``); every stage keeps the original names.  Frames are read as the stored
pixel array everywhere (:func:`read_frame`): an EXIF orientation tag is not
applied, as the DAVIS and MOSE tools read them and as the annotations are drawn.
Hidden files (a macOS ``._00003.jpg``) are not frames.

**Annotations.**  ``<frame>.png`` with the lower-case suffix; pixels of 255 are
*void* (DAVIS's "don't care"), never an object: the models get them as
background, and the scoring counts them as background.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from PIL import Image

from .errors import StsegError
from .files import atomic_path
from .masks import MaskFormatError, object_ids, read_label_map, read_palette
from .names import RULE, name_problem

__all__ = ["DatasetError", "VideoInfo", "list_videos", "inspect_video", "read_frame", "validate_dataset", "video_paths"]

FRAME_SUFFIXES = (".jpg", ".jpeg")
#: the largest frame or annotation accepted, in pixels (PIL's decompression-bomb limit; MOSE's 1920x1080 is 2 MP)
MAX_PIXELS = 89_478_485


class DatasetError(StsegError, ValueError):
    """One or more problems with the input dataset; the message names each file and the fix."""


@dataclass(frozen=True)
class VideoInfo:
    """What the workflow needs to know of one video before any job runs."""

    name: str
    frames: tuple[str, ...]
    width: int
    height: int
    objects: tuple[int, ...]
    fully_annotated: bool
    #: objects first annotated on a later frame (YouTube-VOS / LVOS style sparse annotations), as
    #: ``(object id, frame)`` pairs in frame order; empty for a video with ground truth on every frame
    appearing: tuple[tuple[int, str], ...] = ()

    @property
    def first_frame(self) -> str:
        return self.frames[0]

    @property
    def all_objects(self) -> tuple[int, ...]:
        """The first frame's objects and those that appear later, sorted."""
        return tuple(sorted({*self.objects, *(obj for obj, _ in self.appearing)}))

    @property
    def appearance_frames(self) -> tuple[str, ...]:
        """The later frames whose annotation introduces an object, in frame order."""
        return tuple(dict.fromkeys(frame for _, frame in self.appearing))


def video_paths(root: str | os.PathLike[str], video: str) -> tuple[Path, Path]:
    """The frame folder and the annotation folder of ``video``."""
    root = Path(root)
    return root / "JPEGImages" / video, root / "Annotations" / video


def list_videos(
    root: str | os.PathLike[str],
    videos: list[str] | None = None,
    video_list: str | os.PathLike[str] | None = None,
    key: str = "dataset.root",
) -> list[str]:
    """The videos to process: ``videos`` if given, else the list file, else every folder, sorted.  ``key``: the
    config key that names ``root`` (in the errors)."""
    root = Path(root)
    if not root.is_dir():
        demo = ", or set dataset.demo: true to generate the demo there" if key == "dataset.root" else ""
        raise DatasetError(
            f"{key}: {root}: dataset folder does not exist. Set {key} in the config to a folder in the "
            f"DAVIS/MOSE layout (JPEGImages/<video>/, Annotations/<video>/){demo}."
        )
    frames_root = root / "JPEGImages"
    if not frames_root.is_dir():
        raise DatasetError(f"{frames_root}: missing. A dataset needs JPEGImages/<video>/<frame>.jpg.")
    if videos:
        names = list(videos)
    elif video_list:
        list_path = Path(video_list)
        if not list_path.is_absolute() and not list_path.exists():
            list_path = root / list_path
        if not list_path.is_file():
            raise DatasetError(f"{list_path}: video list file not found. Fix dataset.video_list in the config.")
        names = [line.strip() for line in list_path.read_text().splitlines() if line.strip()]
    else:
        names = sorted(entry.name for entry in os.scandir(frames_root) if entry.is_dir() and not entry.name.startswith("."))
    unique = list(dict.fromkeys(names))  # first occurrence of each name, in order
    bad = {n: problem for n in unique if (problem := name_problem(n))}
    if bad:
        listed = "; ".join(f"{n[:60]!r}{'...' if len(n) > 60 else ''}: {why}" for n, why in bad.items())
        raise DatasetError(f"video name(s) cannot be used ({listed}): {RULE}. Rename the video folders "
                           "(JPEGImages/ and Annotations/) or fix the video list.")
    return unique


def _scan(folder: Path, suffixes: tuple[str, ...]) -> dict[str, os.DirEntry[str]]:
    """The files of ``folder`` with one of ``suffixes`` (any case), by stem; hidden files (``._00003.jpg``, a
    writer's partial) are not counted.  A link whose target is gone is an error naming it."""
    if not folder.is_dir():
        return {}
    found: dict[str, os.DirEntry[str]] = {}
    broken = []
    twins = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        stem, dot, suffix = entry.name.rpartition(".")
        if entry.name.startswith(".") or not dot or ("." + suffix.lower()) not in suffixes:
            continue
        if stem in found:  # 00003.jpg and 00003.jpeg: the models would read both, every later frame shifted
            twins.append(f"{found[stem].name} and {entry.name}")
        elif entry.is_file():
            found[stem] = entry
        elif entry.is_symlink():
            broken.append(f"{entry.path} -> {os.readlink(entry.path)}")
    if twins:
        raise DatasetError(f"{folder}: two files name one frame ({'; '.join(twins[:5])}). Keep one file per frame: "
                           "remove or rename the others.")
    if broken:
        raise DatasetError(f"{folder}: broken symbolic link(s) (the file each points to does not exist): "
                           f"{'; '.join(sorted(broken)[:5])}{' ...' if len(broken) > 5 else ''}. Restore the files "
                           "they point to, or replace the links with the files.")
    return found


#: bumped whenever the checks change, so a cached "valid" from older checks is not trusted
VALIDATION_VERSION = "6"


def _fingerprint(entries: list[os.DirEntry[str]]) -> str:
    """Names, sizes, mtimes and ctimes: a file restored with an older mtime (``cp -p``, ``rsync -a``, ``tar``) still
    has a new ctime, which no user can set back."""
    digest = hashlib.sha256(VALIDATION_VERSION.encode())  # new checks invalidate older caches
    for entry in sorted(entries, key=lambda e: e.path):
        stat = entry.stat()
        where = f"{Path(entry.path).parent.name}/{entry.name}"  # JPEGImages/..., Annotations/...: not the root's spelling
        digest.update(f"{where}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ctime_ns}\n".encode())
    return digest.hexdigest()


def _decode_problem(path: str) -> str | None:
    """Why the JPEG at ``path`` cannot be used as a frame (None: it decodes cleanly in full)."""
    import simplejpeg

    try:
        with open(path, "rb") as handle:
            data = handle.read()
        width, height, _, _ = simplejpeg.decode_jpeg_header(data)
        if width * height > MAX_PIXELS:
            return f"{path}: the JPEG claims {width}x{height} pixels (more than {MAX_PIXELS:,}). Re-extract this frame."
        simplejpeg.decode_jpeg(data, strict=True)
    except (OSError, ValueError) as error:  # libjpeg's errors, and in strict mode its warnings of corrupt data
        return f"{path}: damaged JPEG ({str(error).strip()}). Re-extract this frame from the video."
    return None


def inspect_video(root: str | os.PathLike[str], video: str, cache_dir: str | os.PathLike[str] | None = None,
                  write_cache: bool = True) -> VideoInfo:
    """Validate one video and describe it; raise :class:`DatasetError` listing every problem.  The result is cached
    in ``cache_dir`` (read, and with ``write_cache`` written: a dry run only reads it)."""
    frame_dir, ann_dir = video_paths(root, video)
    if not frame_dir.is_dir():
        raise DatasetError(f"{frame_dir}: no such frame folder for video {video!r}. Check the video name or list.")
    jpegs = _scan(frame_dir, FRAME_SUFFIXES)
    pngs = _scan(ann_dir, (".png",))
    cache_file = Path(cache_dir) / f"{video}.json" if cache_dir else None
    fingerprint = _fingerprint(list(jpegs.values()) + list(pngs.values()))
    if cache_file is not None and cache_file.is_file():
        try:
            cached = json.loads(cache_file.read_text())
            if cached.get("fingerprint") == fingerprint:
                info = cached["info"]
                return VideoInfo(**{**info, "frames": tuple(info["frames"]), "objects": tuple(info["objects"]),
                                    "appearing": tuple((int(o), str(f)) for o, f in info.get("appearing", ()))})
        except (ValueError, KeyError, TypeError):
            pass
    info = _inspect(frame_dir, ann_dir, video, jpegs, pngs)
    if cache_file is not None and write_cache:
        try:
            with atomic_path(cache_file) as tmp:
                tmp.write_text(json.dumps({"fingerprint": fingerprint, "info": asdict(info)}))
        except OSError as error:
            free = shutil.disk_usage(cache_file.parent).free if cache_file.parent.is_dir() else 0
            raise StsegError(
                f"{cache_file}: could not write the dataset's validation cache ({error.strerror or error}; "
                f"{free // 1024} KiB free on its file system): the results folder must be writable with room for "
                "the run's outputs. Free some space (or set results to another folder) and rerun; nothing was run."
            ) from None
    return info


def background_index_problem(path: str | os.PathLike[str], labels: np.ndarray) -> str | None:
    """A palette whose black (the background colour) is an index other than 0 that the image uses, while index 0
    is another colour: object ids are palette indices, so the background would be read as an object."""
    palette = read_palette(path)
    colours = [tuple(palette[3 * i : 3 * i + 3]) for i in range(256)]
    if colours[0] == (0, 0, 0):
        return None
    used = set(np.unique(labels).tolist())
    black = [i for i in sorted(used) if colours[i] == (0, 0, 0)]
    if not black:
        return None
    return (
        f"{path}: the background (black) is palette index {black[0]}, and index 0 is the colour {colours[0]}. "
        "Object ids are palette indices (0 = background, 1..N = objects), as DAVIS and MOSE store them; "
        "this PNG was probably saved by an adaptive colour conversion. Re-save it with the background at "
        f"index 0, e.g. ids = np.array(img); ids = np.where(ids == {black[0]}, 0, np.where(ids == 0, {black[0]}, ids)) "
        "and a palette with black first."
    )


def _stride_problem(frame_dir: Path, frames: list[str]) -> str | None:
    """Frames must be every frame, or every ``s``-th (a regular stride, as YouTube-VOS ships them)."""
    numbers = [int(s) for s in frames]
    steps = {b - a for a, b in zip(numbers, numbers[1:])}
    if len(steps) <= 1:
        return None
    stride = min(steps)
    missing = [n for a, b in zip(numbers, numbers[1:]) for n in range(a + stride, b, stride)] if stride else []
    width = len(frames[0])
    if missing:
        shown = ", ".join(f"{m:0{width}d}.jpg" for m in missing[:5])
        return (f"{frame_dir}: frames are not contiguous: missing {shown}{' ...' if len(missing) > 5 else ''} "
                f"between {frames[0]}.jpg and {frames[-1]}.jpg{f' (every {stride}th frame)' if stride > 1 else ''}. "
                "Restore the missing frames "
                "(a gap would shift every later frame's scoring).")
    return (f"{frame_dir}: the frames' numbering has no regular stride (steps {sorted(steps)[:5]}). Frames must be "
            "every frame or every n-th (00000, 00005, ...); restore the missing frames.")


def _inspect(frame_dir: Path, ann_dir: Path, video: str, jpegs: dict, pngs: dict) -> VideoInfo:
    problems: list[str] = []
    if not jpegs:
        raise DatasetError(f"{frame_dir}: no .jpg frames in this folder. Put the video's frames there as <frame>.jpg.")
    non_integer = sorted(stem for stem in jpegs if not (stem.isascii() and stem.isdigit()))  # not '00001²'
    if non_integer:
        raise DatasetError(
            f"{frame_dir}: frame names must be integers (00000.jpg, 00001.jpg, ...); found "
            f"{', '.join(s + '.jpg' for s in non_integer[:5])}{' ...' if len(non_integer) > 5 else ''}. Rename the frames."
        )
    frames = sorted(jpegs, key=int)
    same: dict[int, list[str]] = {}
    for stem in frames:
        same.setdefault(int(stem), []).append(stem + ".jpg")
    clashes = {n: names for n, names in same.items() if len(names) > 1}
    if clashes:
        shown = "; ".join(f"{' and '.join(sorted(names))} are both frame {n}" for n, names in list(clashes.items())[:5])
        raise DatasetError(f"{frame_dir}: two files name one frame ({shown}). Keep one name per frame "
                           "(00003.jpg, as the rest of the video) and remove the other.")
    if len(frames) < 3:
        raise DatasetError(
            f"{frame_dir}: {len(frames)} frame(s); a video needs at least 3 (J&F scores the frames between the "
            "first and the last). Remove this video from the dataset or the video list."
        )
    stride = _stride_problem(frame_dir, frames)
    if stride:
        problems.append(stride)
    upper = sorted(e.name for e in pngs.values() if not e.name.endswith(".png"))
    if upper:
        problems.append(f"{ann_dir}: annotation suffix in capitals ({', '.join(upper[:5])}); stseg reads "
                        "<frame>.png. Rename them with the lower-case suffix (00000.PNG -> 00000.png).")
    size = None
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # libjpeg releases the GIL
        damaged = dict(zip(frames, pool.map(_decode_problem, (jpegs[stem].path for stem in frames))))
    for stem in frames:
        path = jpegs[stem].path
        try:
            with Image.open(path) as image:
                frame_size = image.size
                if image.format not in ("JPEG", "MPO"):
                    raise OSError(f"it is a {image.format} file, not a JPEG")
        except (OSError, SyntaxError, Image.DecompressionBombError) as error:
            problems.append(f"{path}: unreadable JPEG ({error}). Re-extract this frame from the video.")
            continue
        if damaged[stem]:
            problems.append(str(damaged[stem]))
            continue
        if size is None:
            size = frame_size
        elif frame_size != size:
            problems.append(
                f"{path}: frame size {frame_size[0]}x{frame_size[1]} differs from the video's first frame "
                f"({size[0]}x{size[1]}). All frames of a video must have one size."
            )
    first = frames[0]
    objects: tuple[int, ...] = ()
    if first not in pngs:
        problems.append(
            f"{ann_dir / (first + '.png')}: the first frame's annotation is missing. The semi-supervised task "
            "needs a palette PNG for the first frame with each object's id."
        )
    else:
        path = pngs[first].path
        try:
            labels = read_label_map(path)
        except MaskFormatError as error:
            problems.append(str(error))
        else:
            if size is not None and (labels.shape[1], labels.shape[0]) != size:
                problems.append(
                    f"{path}: annotation size {labels.shape[1]}x{labels.shape[0]} differs from the frame size "
                    f"{size[0]}x{size[1]}. Annotations must have the frames' resolution."
                )
            objects = object_ids(labels)
            background = background_index_problem(path, labels)
            if background:
                problems.append(background)
            elif not objects:
                problems.append(
                    f"{path}: the first-frame annotation has no object (every pixel is background). "
                    "Give each object to segment its own id (1, 2, ...)."
                )
    fully = all(stem in pngs for stem in frames)
    if fully and first in pngs and not problems:  # ground truth on every frame: each read as the scorer reads it
        problems += _truth_problems([pngs[stem].path for stem in frames[1:]], pngs[first].path, size)
    else:
        for stem in frames[1:]:  # every later annotation: its size, from the header
            if stem in pngs and size is not None:
                problem = _png_size_problem(pngs[stem].path, size)
                if problem:
                    problems.append(problem)
    extra = sorted(set(pngs) - set(jpegs))
    if extra:
        problems.append(
            f"{ann_dir}: annotation(s) {', '.join(e + '.png' for e in extra[:5])} have no matching frame in "
            f"{frame_dir}. Remove them or restore the frames."
        )
    fully_annotated = all(stem in pngs for stem in frames)
    appearing: list[tuple[int, str]] = []
    if not fully_annotated and not problems:
        appearing = _later_objects(frames, pngs, objects, size, problems)
    if problems:
        raise DatasetError("\n".join(problems))
    assert size is not None
    return VideoInfo(
        name=video,
        frames=tuple(frames),
        width=size[0],
        height=size[1],
        objects=objects,
        fully_annotated=fully_annotated,
        appearing=tuple(appearing),
    )


def _truth_problems(paths: list[str], first: str, size: tuple[int, int] | None) -> list[str]:
    """Every later ground-truth PNG decoded as the scorer decodes it (a palette PNG, the frames' size), its
    background at index 0, and each id it uses in the first frame's colour: a PNG whose ids and colours were swapped
    (it looks the same) or re-saved with another palette would be scored as it is."""
    palette = read_palette(first)
    colour = {i: tuple(palette[3 * i : 3 * i + 3]) for i in range(256)}

    def check(path: str) -> str | None:
        if size is not None:
            problem = _png_size_problem(path, size)
            if problem:
                return problem
        try:
            labels = read_label_map(path)
        except MaskFormatError as error:
            return str(error)
        background = background_index_problem(path, labels)
        if background:
            return background
        theirs = read_palette(path)
        moved = [i for i in object_ids(labels) if tuple(theirs[3 * i : 3 * i + 3]) != colour[i]]
        if moved:
            i = moved[0]
            return (f"{path}: object id {i} has the colour {tuple(theirs[3 * i : 3 * i + 3])} here but {colour[i]} in "
                    f"{Path(first).name}: the ids and colours of the ground truth changed between frames (two objects "
                    "swapped, or a re-saved palette). Re-export it with the first frame's ids and palette.")
        return None

    with ThreadPoolExecutor(max_workers=4) as pool:  # PNG decoding releases the GIL
        return [p for p in pool.map(check, paths) if p]


def _png_size_problem(path: str, size: tuple[int, int]) -> str | None:
    """An annotation PNG whose header gives another size than the frames' (or that cannot be read)."""
    try:
        with Image.open(path) as image:
            found = image.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return f"{path}: cannot read this annotation PNG ({error}). Re-export it."
    if found != size:
        return (f"{path}: annotation size {found[0]}x{found[1]} differs from the frame size {size[0]}x{size[1]}. "
                "Annotations (ground truth included) must have the frames' resolution; re-export it.")
    return None


def _later_objects(frames: list[str], pngs: dict, objects: tuple[int, ...], size: tuple[int, int] | None,
                   problems: list[str]) -> list[tuple[int, str]]:
    """The objects that sparse later annotations introduce, with the frame of each one's first mask.

    As SAM2's ``vos_inference.py --track_object_appearing_later_in_video`` reads
    them: an object's first mask is its input; a later mask of an object already
    known is not used.
    """
    seen = set(objects)
    appearing = []
    for stem in frames[1:]:
        if stem not in pngs:
            continue
        path = pngs[stem].path
        try:
            labels = read_label_map(path)
        except MaskFormatError as error:
            problems.append(str(error))
            continue
        if size is not None and (labels.shape[1], labels.shape[0]) != size:
            problems.append(f"{path}: annotation size {labels.shape[1]}x{labels.shape[0]} differs from the frame size "
                            f"{size[0]}x{size[1]}. Annotations must have the frames' resolution.")
            continue
        background = background_index_problem(path, labels)
        if background:
            problems.append(background)
            continue
        for obj in object_ids(labels):
            if obj not in seen:
                seen.add(obj)
                appearing.append((obj, stem))
    late = [(obj, stem) for obj, stem in appearing if frames.index(stem) >= len(frames) - 2]
    for obj, stem in late:
        problems.append(f"{pngs[stem].path}: object {obj} is first annotated on frame {stem}, one of the video's last "
                        "two frames; J&F scores the frames after an object's first mask but never the last, so it "
                        "could not be scored. Remove it from this annotation (or give it on an earlier frame).")
    return appearing


def validate_dataset(
    root: str | os.PathLike[str],
    videos: list[str],
    cache_dir: str | os.PathLike[str] | None = None,
    write_cache: bool = True,
) -> tuple[dict[str, VideoInfo], dict[str, str]]:
    """Inspect every video; return the valid ones and, per invalid video, its problems."""
    valid: dict[str, VideoInfo] = {}
    invalid: dict[str, str] = {}
    for video in videos:
        try:
            valid[video] = inspect_video(root, video, cache_dir, write_cache)
        except DatasetError as error:
            invalid[video] = str(error)
    return valid, invalid


def list_frames(frame_dir: str | os.PathLike[str]) -> list[Path]:
    """The video's frame files in frame order (integer names; hidden files are not frames)."""
    frame_dir = Path(frame_dir)
    files = [p for p in frame_dir.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith(".")]
    bad = [p.name for p in files if not (p.stem.isascii() and p.stem.isdigit())]
    if bad:
        raise DatasetError(f"{frame_dir}: frame names must be integers; found {bad[:5]}")
    if not files:
        raise DatasetError(f"{frame_dir}: no .jpg frames in this folder.")
    return sorted(files, key=lambda p: int(p.stem))


def read_frame(path: str | os.PathLike[str], flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """One frame as its stored pixel array (BGR ``uint8``; ``flags``: OpenCV's, e.g. greyscale): an EXIF
    orientation tag is not applied (module docstring).  A frame that cannot be decoded is an error naming it."""
    frame = cv2.imread(str(path), flags | cv2.IMREAD_IGNORE_ORIENTATION)
    if frame is None:
        raise DatasetError(f"{path}: cannot decode this JPEG (corrupt or truncated). Re-extract this frame.")
    return frame


def read_frames(files: list[Path]) -> Iterator[np.ndarray]:
    """Decode frames one at a time (:func:`read_frame`), naming the file that fails."""
    size = None
    for path in files:
        frame = read_frame(path)
        if size is None:
            size = frame.shape
        elif frame.shape != size:
            raise DatasetError(
                f"{path}: frame size {frame.shape[1]}x{frame.shape[0]} differs from the first frame's "
                f"{size[1]}x{size[0]}. All frames of a video must have one size."
            )
        yield frame
