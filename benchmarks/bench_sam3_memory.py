"""Peak memory of stseg's SAM 3 job against SAM 3's unmodified tracker, for videos of growing length (CPU).

    .venv-sam3/bin/python benchmarks/bench_sam3_memory.py [--lengths 20 40] [--distinct 3]   # SAM 3's venv

Each measurement runs in a fresh process: a randomly initialised SAM 3 tracker
(``stseg.models.sam3.write_random_checkpoint``; memory does not depend on the
weights) segments a video made of the first ``--distinct`` frames of the real
two-object DAVIS video ``horsejump-high`` (854x480, from ../shared/data) repeated
back and forth to the wanted length, once with ``bounded_memory: true`` (stseg)
and once with ``false`` (SAM 3's tracker as released: every frame decoded at
``init_state``, every frame's outputs kept).  The process's peak resident set
(VmHWM) while it tracks the video is printed (the peak is reset once the
tracker is built, so that loading the weights, the same in both, does not hide
it; the resident memory at that point is printed too), with the ratio, the
seconds per frame and whether the two runs wrote the same masks (the video is
longer than the tracker's memory window).

On a CPU SAM 3's 1008-pixel backbone takes about a minute per frame, so each
distinct frame's backbone output is computed once and reused
(tests/sam3_features.py); the tracker's state, which is what grows, is the
tracker's own.  Lengths are far below a GPU run's (50/200 frames) for the same
reason: every frame still costs several seconds of memory attention.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("STSEG_SHARED_DATA", REPO.parent / "shared" / "data"))
VIDEO = "horsejump-high"

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[6])
from sam3_features import remember_features
remember_features(__import__("pathlib").Path(sys.argv[5]))
from stseg.inference import run_model
from stseg.models.sam3 import SAM3Propagator

def status(key):
    return int([l for l in open("/proc/self/status") if l.startswith(key)][0].split()[1]) / 1024

loaded = {}
make_state = SAM3Propagator._state
def state_after_a_fresh_peak(self, *args):  # the tracker is built: the peak from here on is the video's
    loaded["mb"] = status("VmRSS")
    open("/proc/self/clear_refs", "w").write("5")
    return make_state(self, *args)
SAM3Propagator._state = state_after_a_fresh_peak
options = json.loads(sys.argv[1])
stats = run_model("sam3", options, sys.argv[2], sys.argv[3], sys.argv[4], progress=False)
print(json.dumps({"loaded_mb": loaded["mb"], "peak_mb": status("VmHWM"), "fps": stats["fps"]}))
"""


def make_video(source: Path, distinct: int, length: int, out: Path) -> Path:
    frames = sorted(source.glob("*.jpg"))[:distinct]
    cycle = frames + frames[-2:0:-1]
    folder = out / f"v{length}"
    folder.mkdir(parents=True)
    for index in range(length):
        os.link(cycle[index % len(cycle)], folder / f"{index:05d}.jpg")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[20, 40])
    parser.add_argument("--distinct", type=int, default=3)
    args = parser.parse_args()
    from stseg.models.sam3 import write_random_checkpoint

    source = SHARED / "davis-multiobj" / "JPEGImages" / VIDEO
    annotation = SHARED / "davis-multiobj" / "Annotations" / VIDEO / "00000.png"
    if not source.is_dir():
        raise SystemExit(f"{source} is absent (set STSEG_SHARED_DATA to the folder holding davis-multiobj/)")
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "sam3-random.pt"
        write_random_checkpoint(str(checkpoint))
        print(f"SAM 3 tracker, random weights, CPU (2 threads), {VIDEO} 854x480, 2 objects, "
              f"{args.distinct} distinct frames (backbone outputs reused)")
        print(f"  {'frames':>6} {'loaded MB':>9} {'unmodified MB':>14} {'stseg MB':>9} {'stseg/unmod.':>12} "
              f"{'s/frame unmod.':>14} {'s/frame stseg':>13}")
        for length in args.lengths:
            frames = make_video(source, args.distinct, length, Path(tmp))
            result = {}
            for bounded in (False, True):
                options = {"checkpoint": str(checkpoint), "device": "cpu", "bounded_memory": bounded}
                out = Path(tmp) / f"out-{length}-{bounded}"
                done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(options), str(frames), str(annotation), str(out),
                                       str(Path(tmp) / "features"), str(REPO / "tests")],
                                      capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
                if done.returncode:
                    raise SystemExit(done.stderr[-3000:])
                result[bounded] = json.loads(done.stdout.strip().splitlines()[-1])
            plain, mine = result[False], result[True]
            same = all((Path(tmp) / f"out-{length}-False" / f.name).read_bytes() == f.read_bytes()
                       for f in sorted((Path(tmp) / f"out-{length}-True").glob("*.png")))
            print(f"  {length:>6} {mine['loaded_mb']:9.0f} {plain['peak_mb']:14.0f} {mine['peak_mb']:9.0f}"
                  f" {mine['peak_mb'] / plain['peak_mb']:12.2f}"
                  f" {1 / plain['fps']:14.1f} {1 / mine['fps']:13.1f}  {'same masks' if same else 'MASKS DIFFER'}", flush=True)


if __name__ == "__main__":
    main()
