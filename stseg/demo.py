"""The embedded demo dataset: synthetic videos with the hard cases of MOSE.

``write_demo(root)`` renders, deterministically (fixed seeds, no clock), a
DAVIS/MOSE-layout dataset with ground truth on every frame:

    <root>/JPEGImages/<video>/00000.jpg ...   854x480 by default
    <root>/Annotations/<video>/00000.png ...  palette PNGs, every frame
    <root>/ImageSets/demo.txt

Every video is a scene of textured objects on a textured background, rendered
in "world" coordinates and seen through a moving camera (a similarity warp), with
photometric flicker and sensor noise, then JPEG-compressed.  Each video stresses
one or two of MOSE's hard cases, and they are chosen so that different built-in
models win on different videos:

================  =============================================  ==================
video             what happens                                   built-in favoured
================  =============================================  ==================
pan-rigid         camera pans and zooms over three still objects global
shake-zoom        hand-held shake and zoom, still objects        global
deform-blob       one object deforms strongly, drifts slowly     flow
crowd-pan         four objects move while the camera pans        flow
twins             two identical objects cross, one occludes      flow
fast-ball         small ball moving ~35 px per frame, bouncing   appearance
exit-reenter      object leaves the frame and comes back         appearance
crossing          object passes fully behind another             appearance
still-flicker     nothing moves; strong flicker and noise        copy
================  =============================================  ==================
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from .files import atomic_path
from .masks import davis_palette, write_label_map

__all__ = ["DEMO_VIDEOS", "write_demo", "render_video"]

Path2D = Callable[[float], tuple[float, float]]


@dataclass
class DemoObject:
    """One object: its texture, size, path and shape change, in world coordinates."""

    colour: tuple[int, int, int]  # BGR base colour
    radius: tuple[float, float]  # half axes (rx, ry) in world pixels
    path: Path2D  # u in [0, 1] -> world centre (x, y)
    seed: int
    wobble: float = 0.05  # amplitude of the radial shape change
    lobes: int = 3
    speed: float = 1.0  # shape-change speed
    depth: Callable[[float], float] = lambda u: 0.0  # larger = nearer the camera
    contrast: float = 0.35  # texture contrast


@dataclass
class DemoVideo:
    name: str
    frames: int
    objects: list[DemoObject]
    camera: Callable[[float], tuple[float, float, float]] = lambda u: (0.0, 0.0, 1.0)  # (dx, dy, zoom)
    flicker: float = 0.03
    noise: float = 2.0
    background_seed: int = 0
    background_contrast: float = 0.6
    shake: float = 0.0  # random camera jitter in pixels
    #: unlabelled look-alikes: (object index, world x, world y) of a static copy of that object
    distractors: list[tuple[int, float, float]] = field(default_factory=list)
    description: str = ""
    favours: str = ""


# world canvas = frame grown by this margin on every side (room for camera motion)
MARGIN = 0.35


def _smooth_noise(rng: np.random.Generator, height: int, width: int, octaves: Sequence[int]) -> np.ndarray:
    total = np.zeros((height, width), np.float32)
    weight = 0.0
    for index, cells in enumerate(octaves):
        small = rng.random((max(2, height * cells // width), cells)).astype(np.float32)
        total += cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC) / (index + 1)
        weight += 1 / (index + 1)
    total /= weight
    total -= total.min()
    return total / max(float(total.max()), 1e-6)


def _background(rng: np.random.Generator, height: int, width: int, contrast: float) -> np.ndarray:
    channels = [_smooth_noise(rng, height, width, (6, 17, 53, 160)) for _ in range(3)]
    base = rng.uniform(70, 170, size=3)
    image = np.stack([base[i] + contrast * 150 * (channels[i] - 0.5) for i in range(3)], axis=-1)
    return np.clip(image, 0, 255).astype(np.float32)


def _object_texture(obj: DemoObject, size: int) -> np.ndarray:
    rng = np.random.default_rng(obj.seed)
    noise = _smooth_noise(rng, size, size, (4, 11, 29))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = rng.uniform(0, math.pi)
    stripes = 0.5 + 0.5 * np.sin((xx * math.cos(angle) + yy * math.sin(angle)) / rng.uniform(4, 9))
    pattern = 0.6 * noise + 0.4 * stripes
    colour = np.array(obj.colour, np.float32)
    return np.clip(colour[None, None, :] * (1 - obj.contrast + 2 * obj.contrast * pattern[..., None]), 0, 255)


def _radial(obj: DemoObject, theta: np.ndarray, t: int) -> np.ndarray:
    """Radius factor of the object's outline at angles ``theta`` on frame ``t``."""
    r = 1 + obj.wobble * np.sin(obj.lobes * theta + obj.speed * 0.35 * t + obj.seed)
    return r + 0.5 * obj.wobble * np.sin((obj.lobes + 2) * theta - obj.speed * 0.21 * t)


def _polygon(obj: DemoObject, u: float, t: int, scale: float) -> np.ndarray:
    theta = np.linspace(0, 2 * math.pi, 96, endpoint=False)
    r = _radial(obj, theta, t)
    cx, cy = obj.path(u)
    xs = cx * scale + r * obj.radius[0] * scale * np.cos(theta)
    ys = cy * scale + r * obj.radius[1] * scale * np.sin(theta)
    return np.stack([xs, ys], axis=1)


def _texture_at(obj: DemoObject, texture: np.ndarray, xs, ys, u: float, t: int, scale: float, offset, centre=None):
    """Texture colours at world pixels (xs, ys): the texture deforms with the outline.

    A pixel at angle θ and distance ρ·R(θ, t) from the centre shows the texture at
    ρ·R(θ, 0), so a shape change moves the texture as a real deformation would.
    """
    cx, cy = obj.path(u) if centre is None else centre
    dx = (xs - (cx * scale + offset[0])) / scale
    dy = (ys - (cy * scale + offset[1])) / scale
    theta = np.arctan2(dy / obj.radius[1], dx / obj.radius[0])
    stretch = _radial(obj, theta, 0) / _radial(obj, theta, t)
    size = texture.shape[0]
    tx = np.clip((dx * stretch * scale + size / 2).astype(int), 0, size - 1)
    ty = np.clip((dy * stretch * scale + size / 2).astype(int), 0, size - 1)
    return texture[ty, tx]


def render_video(video: DemoVideo, width: int = 854, height: int = 480):
    """Yield ``(frame_bgr_uint8, labels_uint8)`` for every frame of ``video``."""
    scale = width / 854.0  # paths and sizes are authored for 854x480
    world_w = int(round(width * (1 + 2 * MARGIN)))
    world_h = int(round(height * (1 + 2 * MARGIN)))
    rng = np.random.default_rng(1000 + video.background_seed)
    background = _background(rng, world_h, world_w, video.background_contrast)
    tex_size = int(2 * max(max(o.radius) for o in video.objects) * scale * 1.6) + 8
    textures = [_object_texture(o, tex_size) for o in video.objects]
    noise_rng = np.random.default_rng(2000 + video.background_seed)
    offset = np.array([MARGIN * width, MARGIN * height])  # world origin of the frame at rest
    for index, x, y in video.distractors:
        obj = video.objects[index]
        twin = DemoObject(obj.colour, obj.radius, _still(x, y), obj.seed + 500, obj.wobble, obj.lobes, 0.0)
        poly = _polygon(twin, 0.0, 0, scale) + offset
        mask = np.zeros((world_h, world_w), np.uint8)
        cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
        ys, xs = np.nonzero(mask)
        background[ys, xs] = _texture_at(twin, textures[index], xs, ys, 0.0, 0, scale, offset)
    for t in range(video.frames):
        u = t / max(1, video.frames - 1)
        canvas = background.copy()
        labels = np.zeros((world_h, world_w), np.uint8)
        order = sorted(range(len(video.objects)), key=lambda i: (video.objects[i].depth(u), i))
        for index in order:
            obj = video.objects[index]
            poly = _polygon(obj, u, t, scale) + offset
            mask = np.zeros((world_h, world_w), np.uint8)
            cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
            ys, xs = np.nonzero(mask)
            if ys.size == 0:
                continue
            canvas[ys, xs] = _texture_at(obj, textures[index], xs, ys, u, t, scale, offset)
            labels[ys, xs] = index + 1
        dx, dy, zoom = video.camera(u)
        if video.shake:
            dx += noise_rng.normal(0, video.shake)
            dy += noise_rng.normal(0, video.shake)
        # frame pixel p sees world point (p - centre) / zoom + centre + offset + (dx, dy)
        centre = np.array([width / 2, height / 2])
        matrix = np.array(
            [
                [zoom, 0, centre[0] - zoom * (centre[0] + offset[0] + dx * scale)],
                [0, zoom, centre[1] - zoom * (centre[1] + offset[1] + dy * scale)],
            ]
        )
        frame = cv2.warpAffine(canvas, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frame_labels = cv2.warpAffine(labels, matrix, (width, height), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
        gain = 1 + video.flicker * (math.sin(1.3 * t) + noise_rng.normal(0, 0.6))
        frame = frame * gain + noise_rng.normal(0, video.noise, frame.shape)
        yield np.clip(frame, 0, 255).astype(np.uint8), frame_labels


def _linear(x0: float, y0: float, x1: float, y1: float) -> Path2D:
    return lambda u: (x0 + (x1 - x0) * u, y0 + (y1 - y0) * u)


def _still(x: float, y: float) -> Path2D:
    return lambda u: (x, y)


def _bounce(x0: float, y0: float, vx: float, vy: float, frames: int, box=(60, 60, 794, 420)) -> Path2D:
    """A ball bouncing in ``box`` at (vx, vy) pixels per frame."""

    def reflect(p: float, lo: float, hi: float) -> float:
        span = hi - lo
        q = (p - lo) % (2 * span)
        return lo + (q if q <= span else 2 * span - q)

    return lambda u: (reflect(x0 + vx * u * (frames - 1), box[0], box[2]), reflect(y0 + vy * u * (frames - 1), box[1], box[3]))


def _videos() -> list[DemoVideo]:
    red, green, blue, yellow = (40, 40, 210), (50, 190, 60), (200, 90, 30), (30, 200, 220)
    magenta, teal = (190, 50, 190), (170, 160, 20)
    return [
        DemoVideo(
            "pan-rigid", 60, background_seed=1, noise=6.0, flicker=0.08, distractors=[(0, 370, 250), (1, 520, 400), (2, 660, 160)],
            objects=[
                DemoObject((120, 130, 120), (70, 55), _still(250, 230), seed=11, wobble=0.02, contrast=0.5),
                DemoObject((110, 120, 135), (45, 80), _still(520, 260), seed=12, wobble=0.02, contrast=0.5),
                DemoObject((130, 115, 110), (60, 40), _still(560, 140), seed=13, wobble=0.02, contrast=0.5),
            ],
            camera=lambda u: (-200 + 400 * u, 40 * math.sin(2 * u), 1.0 + 0.18 * u),
            description="camera pans and zooms over three still objects", favours="global",
        ),
        DemoVideo(
            "shake-zoom", 50, background_seed=2, shake=16.0, noise=7.0, flicker=0.08,
            distractors=[(0, 450, 230), (1, 610, 170), (0, 200, 330)],
            objects=[
                DemoObject((100, 140, 150), (60, 60), _still(330, 240), seed=21, wobble=0.02, contrast=0.5),
                DemoObject((150, 130, 100), (80, 45), _still(600, 300), seed=22, wobble=0.02, contrast=0.5),
            ],
            camera=lambda u: (0, 0, 1.0 + 0.3 * math.sin(math.pi * u)),
            description="hand-held shake and zoom, still objects", favours="global",
        ),
        DemoVideo(
            "deform-blob", 50, background_seed=3, distractors=[(0, 220, 150), (0, 640, 330)],
            objects=[DemoObject((90, 150, 110), (110, 90), _linear(380, 240, 470, 250), seed=31, wobble=0.22, lobes=3, speed=0.9,
                                contrast=0.5)],
            background_contrast=0.8,
            description="one object deforms strongly and drifts slowly", favours="flow",
        ),
        DemoVideo(
            "crowd-pan", 70, background_seed=4, distractors=[(0, 250, 300), (1, 560, 230), (2, 470, 260), (3, 600, 330)],
            objects=[
                DemoObject(red, (45, 55), _linear(150, 200, 300, 260), seed=41, wobble=0.1),
                DemoObject(green, (50, 40), _linear(650, 150, 520, 220), seed=42, wobble=0.1),
                DemoObject((60, 150, 170), (40, 45), _linear(400, 380, 450, 300), seed=43, wobble=0.1),
                DemoObject((150, 100, 60), (35, 60), _linear(720, 380, 640, 360), seed=44, wobble=0.1),
            ],
            camera=lambda u: (-60 + 160 * u, -20 + 30 * u, 1.0),
            description="four objects move while the camera pans", favours="flow",
        ),
        DemoVideo(
            "twins", 50, background_seed=5, distractors=[(0, 420, 120), (0, 430, 380)],
            objects=[
                DemoObject(teal, (55, 55), _linear(250, 220, 560, 250), seed=51, wobble=0.08, depth=lambda u: 1.0),
                DemoObject(teal, (55, 55), _linear(600, 270, 300, 240), seed=51, wobble=0.08),
            ],
            description="two identical objects cross; one passes in front", favours="flow",
        ),
        DemoVideo(
            "fast-ball", 40, background_seed=6, background_contrast=0.5,
            objects=[DemoObject(yellow, (28, 28), _bounce(120, 150, 33, 21, 40), seed=61, wobble=0.02, contrast=0.2)],
            description="a small ball moves about 35 px per frame and bounces", favours="appearance",
        ),
        DemoVideo(
            "exit-reenter", 60, background_seed=7,
            objects=[
                DemoObject(magenta, (50, 45), lambda u: (420 + 620 * math.sin(math.pi * u), 250 + 30 * math.sin(6 * u)), seed=71,
                           wobble=0.06, contrast=0.2),
                DemoObject(blue, (40, 50), _still(180, 320), seed=72, wobble=0.04, contrast=0.2),
            ],
            description="an object leaves the frame and comes back", favours="appearance",
        ),
        DemoVideo(
            "crossing", 60, background_seed=8,
            objects=[
                DemoObject(red, (75, 70), _linear(430, 250, 440, 255), seed=81, wobble=0.04, depth=lambda u: 1.0, contrast=0.2),
                DemoObject(green, (38, 38), _linear(120, 250, 760, 250), seed=82, wobble=0.05, contrast=0.2),
                DemoObject(blue, (45, 35), _linear(650, 120, 600, 140), seed=83, wobble=0.05, contrast=0.2),
            ],
            description="an object passes fully behind another and comes out", favours="appearance",
        ),
        DemoVideo(
            "still-flicker", 40, background_seed=9, flicker=0.12, noise=9.0,
            objects=[
                DemoObject((110, 120, 130), (60, 70), _still(300, 240), seed=91, wobble=0.01, speed=0.2, contrast=0.3),
                DemoObject((130, 110, 120), (70, 50), _still(580, 260), seed=92, wobble=0.01, speed=0.2, contrast=0.3),
            ],
            description="nothing moves; strong flicker and sensor noise", favours="copy",
        ),
    ]


DEMO_VIDEOS: tuple[str, ...] = tuple(v.name for v in _videos())


def write_demo(
    root: str | os.PathLike[str],
    videos: Sequence[str] | None = None,
    width: int = 854,
    height: int = 480,
    max_frames: int | None = None,
    quality: int = 90,
) -> list[str]:
    """Render the demo into ``root`` (DAVIS layout, ground truth on every frame); return the video names.

    ``videos`` selects a subset, ``width``/``height`` and ``max_frames`` make a
    smaller copy for tests.  Files are written atomically, and an existing
    complete video is left alone; the output depends on the arguments only.
    """
    root = Path(root)
    specs = {v.name: v for v in _videos()}
    names = list(videos) if videos else list(specs)
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise ValueError(f"unknown demo video(s) {unknown}; the demo has {sorted(specs)}")
    palette = davis_palette()
    for name in names:
        spec = specs[name]
        if max_frames:
            spec.frames = min(spec.frames, max_frames)
        frame_dir = root / "JPEGImages" / name
        ann_dir = root / "Annotations" / name
        done = root / ".stseg-demo" / f"{name}.complete"  # outside the DAVIS folders: other tools list them
        if done.exists():
            continue
        for t, (frame, labels) in enumerate(render_video(spec, width, height)):
            stem = f"{t:05d}"
            with atomic_path(frame_dir / f"{stem}.jpg") as tmp:
                ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
                tmp.write_bytes(data.tobytes())
            write_label_map(ann_dir / f"{stem}.png", labels, palette)
        done.parent.mkdir(parents=True, exist_ok=True)
        done.touch()
    lists = root / "ImageSets"
    lists.mkdir(parents=True, exist_ok=True)
    with atomic_path(lists / "demo.txt") as tmp:
        tmp.write_text("".join(n + "\n" for n in names))
    return names
