"""Every final-answer strategy on every dataset with ground truth, in every voter configuration a user would try.

Sets: ``demo`` (the embedded synthetic demo, ground truth per object; the
built-in models only), and each real DAVIS set of the shared data:
``davis-fullgt``, ``davis-fullgt2`` (single-object, ground truth on every
frame), ``davis-multiobj``, ``davis-multiobj-extra`` (multi-object, scored as
*foreground* J&F against their per-frame foreground ground truth,
``Annotations_union``).  Two real methods' published masks (OSVOS and DINO label
propagation, ``Results/<method>``) are ``precomputed`` models.

Configurations of each DAVIS set (the built-ins: ``copy``, a candidate only, and
the voters ``flow``, ``global``, ``appearance``):

* ``builtins``: the built-in models alone;
* ``+osvos votes``, ``+dino votes``: one real model beside the built-ins, voting;
* ``+both vote``: both real models beside the built-ins, voting;
* ``real only``: the two real models alone, both voting;
* ``+osvos scored``, ``+dino scored``, ``+both scored``: real models beside the built-ins, scored (candidates)
  but not voting.

Each set runs through the workflow once with every model (its masks); each configuration's box fusion,
pseudo-labels and scores are then made from those masks by stseg's own stage functions (what the ``fuse``,
``pseudolabel`` and ``score`` rules run), and every strategy is applied with stseg's own selection and fusion.

Printed per set and configuration: the best single model, each strategy, the per-video oracle (the truly best
model per video) and the per-frame oracle (the truly best model in each frame of each object).  Then, per
strategy, J&F minus each configuration's best single model, sorted by the worst case: defaults are chosen by
that worst case.

    python benchmarks/bench_selection.py [--work /tmp/stseg-bench-selection] [--shared ../shared/data]
                                         [--demo-frames N] [--demo-videos NAME ...]  (a smaller demo: a quick check)
                                         [--sets NAME ...] [--configs NAME ...] [--variants LABEL ...] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stseg.annotation import read_annotation  # noqa: E402
from stseg.boxes import video_boxes  # noqa: E402
from stseg.dataset import list_frames  # noqa: E402
from stseg.fusion import fuse_boxes  # noqa: E402
from stseg.masks import object_ids, read_label_map  # noqa: E402
from stseg.metrics import score_arrays  # noqa: E402
from stseg.pseudolabel import build_pseudo_labels  # noqa: E402
from stseg.scoring import score_models  # noqa: E402
from stseg.selection import dataset_prior, run_selection  # noqa: E402
from stseg.settings import FuseSettings, PseudoLabelSettings, ScoreSettings, SelectSettings, defaults  # noqa: E402
from stseg.tables import read_table, write_table  # noqa: E402

BUILTINS = {
    "copy": {"type": "copy"},
    "flow": {"type": "flow", "options": {"scale": 1.0, "preset": "medium"}},
    "global": {"type": "global", "options": {"transform": "homography"}},
    "appearance": {"type": "appearance"},
}
BUILTIN_VOTERS = ["flow", "global", "appearance"]
REAL = ("osvos", "dino")
DAVIS_SETS = (("davis-fullgt", False), ("davis-fullgt2", False), ("davis-multiobj", True), ("davis-multiobj-extra", True))
BASELINES = list(BUILTINS)

#: configuration -> (its models, its voters)
CONFIGS: dict[str, tuple[list[str], list[str]]] = {
    "builtins": (list(BUILTINS), BUILTIN_VOTERS),
    "+osvos votes": ([*BUILTINS, "osvos"], [*BUILTIN_VOTERS, "osvos"]),
    "+dino votes": ([*BUILTINS, "dino"], [*BUILTIN_VOTERS, "dino"]),
    "+both vote": ([*BUILTINS, *REAL], [*BUILTIN_VOTERS, *REAL]),
    "real only": (list(REAL), list(REAL)),
    "+osvos scored": ([*BUILTINS, "osvos"], BUILTIN_VOTERS),
    "+dino scored": ([*BUILTINS, "dino"], BUILTIN_VOTERS),
    "+both scored": ([*BUILTINS, *REAL], BUILTIN_VOTERS),
}
#: the configurations where two real models vote (the oracle-gain criterion)
TWO_REAL_VOTE = ("+both vote", "real only")

#: (label, select settings changes, score settings changes): STSeg's rule, the picks, the vote, the fusion's variants
STSEG_RULE = {"strategy": "video", "edge_power": 0.0, "prior_margin": None, "absent": "score", "baselines": "equal"}
VARIANTS = [
    ("STSeg's rule (configs/stseg-paper.yaml)", STSEG_RULE, {"absent": "score"}),
    ("pick per video", {"strategy": "video"}, {}),
    ("pick per object", {"strategy": "object"}, {}),
    ("pseudo-label vote", {"strategy": "vote"}, {}),
    ("fuse (default)", {"strategy": "fuse"}, {}),
    ("fuse, with additions", {"strategy": "fuse", "fuse_add": True}, {}),
    ("fuse, baselines equal", {"strategy": "fuse", "baselines": "equal"}, {}),
    ("fuse, baselines equal, prior reliability", {"strategy": "fuse", "baselines": "equal", "fuse_reliability": "prior"}, {}),
    ("fuse, prior reliability", {"strategy": "fuse", "fuse_reliability": "prior"}, {}),
    ("fuse, uniform reliability", {"strategy": "fuse", "fuse_reliability": "uniform"}, {}),
    ("fuse, pixel level", {"strategy": "fuse", "fuse_level": "pixel"}, {}),
    ("fuse, support 0.4", {"strategy": "fuse", "fuse_support": 0.4}, {}),
    ("fuse, support 0.6", {"strategy": "fuse", "fuse_support": 0.6}, {}),
    ("fuse, tolerance 0.008", {"strategy": "fuse", "fuse_tolerance": 0.008}, {}),
    ("fuse, tolerance 0.032", {"strategy": "fuse", "fuse_tolerance": 0.032}, {}),
    ("auto, margin 0.25", {"strategy": "auto"}, {}),
    ("auto, margin 0", {"strategy": "auto", "auto_margin": 0.0}, {}),
]


def run_workflow(name: str, root: Path, work: Path, models: dict, voters: list[str]) -> Path:
    """The workflow on one set with these models (its masks, and for the demo every stage)."""
    results = work / name
    config = {"dataset": {"root": str(root), "ground_truth": "no"}, "results": str(results), "models": models,
              "pgmr": {"models": voters}}
    work.mkdir(parents=True, exist_ok=True)
    config_file = work / f"{name}.yaml"
    config_file.write_text(yaml.safe_dump(config))
    subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--configfile",
                    str(config_file), "--cores", str(os.cpu_count() or 2), "--quiet"], check=True, cwd=work,
                   capture_output=True)
    return results


def refine(root: Path, results: Path, out: Path, models: list[str], voters: list[str]) -> None:
    """A configuration's box fusion, pseudo-labels and scores (``out/pseudo``, ``out/scores``) from the masks in
    ``results``, by the stage functions the rules run."""
    fuse, pseudo, score = defaults(FuseSettings), defaults(PseudoLabelSettings), defaults(ScoreSettings)
    for video in videos_of(results):
        if (out / "scores" / f"{video}.csv").is_file():
            continue
        annotation = sorted((root / "Annotations" / video).glob("*.png"))[:1]
        given = read_annotation(annotation)
        masks = {m: results / "masks" / m / video for m in models}
        fused = fuse_boxes({m: video_boxes(masks[m], given.objects) for m in voters}, fuse.min_votes, fuse.box_weighting)
        build_pseudo_labels({m: masks[m] for m in voters}, annotation, fused, out / "pseudo" / video, pseudo)
        table = score_models(video, masks, out / "pseudo" / video, score, None, list_frames(root / "JPEGImages" / video), given)
        write_table(table, out / "scores" / f"{video}.csv")


def videos_of(results: Path) -> list[str]:
    return sorted(p.name for p in (results / "final").iterdir() if p.is_dir())


class Truth:
    """Per-frame J&F of a folder of masks against a set's ground truth: per object, or foreground
    (``Annotations_union``); an ``(objects, scored frames)`` array."""

    def __init__(self, root: Path, foreground: bool) -> None:
        self.root, self.foreground = root, foreground

    def __call__(self, video: str, masks: Path) -> np.ndarray:
        gt_dir = self.root / ("Annotations_union" if self.foreground else "Annotations") / video
        frames = sorted(p.stem for p in gt_dir.glob("*.png"))[1:-1]
        if self.foreground:
            pairs = (((read_label_map(gt_dir / f"{f}.png") > 0).astype(np.uint8),
                      (read_label_map(masks / f"{f}.png", allow_greyscale=True) > 0).astype(np.uint8), f) for f in frames)
            objects: tuple[int, ...] = (1,)
        else:
            objects = object_ids(read_label_map(gt_dir / "00000.png"))
            pairs = ((read_label_map(gt_dir / f"{f}.png"), read_label_map(masks / f"{f}.png", allow_greyscale=True), f)
                     for f in frames)
        scores = score_arrays(pairs, objects, video, frames)
        return (scores.j + scores.f) / 2


def evaluate(task: tuple) -> pd.DataFrame:
    """One set and configuration: every single model, both oracles, every variant (pooled J&F over objects)."""
    name, config, root, foreground, results, refined, models, voters, variants = task
    truth = Truth(root, foreground)
    videos = videos_of(results)
    true = {(v, m): truth(v, results / "masks" / m / v) for v in videos for m in models}
    pooled = lambda per_video: float(np.mean([x for v in videos for x in per_video[v]]))  # noqa: E731
    rows = [(f"single: {m}", pooled({v: true[v, m].mean(axis=1) for v in videos})) for m in models]
    best_single = max(x for _, x in rows)
    rows.append(("oracle per video", pooled({v: max((true[v, m].mean(axis=1) for m in models), key=np.mean) for v in videos})))
    rows.append(("oracle per frame", pooled({v: np.max([true[v, m] for m in models], axis=0).mean(axis=1) for v in videos})))
    masks = {v: {m: results / "masks" / m / v for m in models} for v in videos}
    files = {v: list_frames(root / "JPEGImages" / v) for v in videos}
    tables = {"skip": {v: read_table(refined / "scores" / f"{v}.csv") for v in videos}}
    if any(changes.get("absent") == "score" for _, _, changes in variants):
        tables["score"] = {v: score_models(v, masks[v], refined / "pseudo" / v, defaults(ScoreSettings, absent="score"),
                                           None, files[v]).assign(video=v) for v in videos}
    baselines = [m for m in models if m in BASELINES]
    with tempfile.TemporaryDirectory() as tmp:
        for label, changes, score_changes in variants:
            settings = defaults(SelectSettings, **changes)
            video_scores = tables[score_changes.get("absent", "skip")]
            prior = dataset_prior(list(video_scores.values()), models, settings.edge_power)
            picks = {}
            for v in videos:
                out = Path(tmp) / label / v
                run_selection(v, video_scores[v], models, masks[v], out, settings, refined / "pseudo" / v, None, prior,
                              voters, files[v], baselines=baselines, measure=False)
                picks[v] = truth(v, out).mean(axis=1)
            rows.append((label, pooled(picks)))
    table = pd.DataFrame(rows, columns=["strategy", "JF"])
    table["vs_best_single"] = table["JF"] - best_single
    return table.assign(set=name, config=config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "stseg-bench-selection")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--demo-frames", type=int, help="cut the demo's videos to this many frames (default: all)")
    parser.add_argument("--demo-videos", nargs="*", help="only these of the demo's videos (default: all nine)")
    parser.add_argument("--sets", nargs="*", help="only these sets (demo, davis-fullgt, ...)")
    parser.add_argument("--configs", nargs="*", help=f"only these configurations of the DAVIS sets ({', '.join(CONFIGS)})")
    parser.add_argument("--variants", nargs="*", help="only these strategies (labels as printed)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="processes (default: one per CPU)")
    args = parser.parse_args()
    variants = [v for v in VARIANTS if not args.variants or v[0] in args.variants]
    demo = args.work / "demo-data"
    if not demo.exists():
        from stseg.demo import write_demo

        write_demo(demo, videos=args.demo_videos, max_frames=args.demo_frames)
    tasks = []
    if not args.sets or "demo" in args.sets:
        results = run_workflow("demo", demo, args.work, BUILTINS, BUILTIN_VOTERS)
        tasks.append(("demo", "builtins", demo, False, results, results, list(BUILTINS), BUILTIN_VOTERS, variants))
    for name, foreground in DAVIS_SETS:
        root = args.shared / name
        if args.sets and name not in args.sets:
            continue
        if not root.is_dir():
            print(f"{root} absent: skipped")
            continue
        everything = {**BUILTINS, **{m: {"type": "precomputed", "options": {"path": str(root / "Results" / m)}} for m in REAL}}
        results = run_workflow(name, root, args.work, everything, [*BUILTIN_VOTERS, *REAL])
        for config, (models, voters) in CONFIGS.items():
            if args.configs and config not in args.configs:
                continue
            refined = args.work / "configs" / name / config.replace(" ", "_")
            refine(root, results, refined, models, voters)
            tasks.append((name, config, root, foreground, results, refined, models, voters, variants))
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        tables = list(pool.map(evaluate, tasks))
    everything = pd.concat(tables, ignore_index=True)
    everything.to_csv(args.work / "selection.csv", index=False)
    wide = everything.pivot_table(index=["set", "config"], columns="strategy", values="JF", sort=False)
    singles = wide[[c for c in wide.columns if c.startswith("single: ")]]
    summary = pd.DataFrame({"best single": singles.max(axis=1), "model": singles.idxmax(axis=1).str[8:]})
    for column in ["oracle per video", "oracle per frame", *(label for label, _, _ in variants)]:
        summary[column] = wide[column]
    summary.index = [f"{s.replace('davis-', '')} {c}" for s, c in summary.index]
    print("\n== pooled J&F per set and voter configuration")
    print(summary.to_string(float_format=lambda x: f"{x:.4f}"))
    keyed = everything[~everything["strategy"].str.startswith(("single", "oracle"))].copy()
    keyed["where"] = keyed["set"].str.replace("davis-", "") + " " + keyed["config"]
    per_where = keyed.pivot_table(index="strategy", columns="where", values="vs_best_single", sort=False)
    worst = pd.DataFrame({"worst": per_where.min(axis=1), "where": per_where.idxmin(axis=1), "mean": per_where.mean(axis=1)})
    print("\n== J&F minus the best single model of each set and configuration; sorted by the worst case")
    print(worst.sort_values(["worst", "mean"], ascending=False).to_string(float_format=lambda x: f"{x:+.4f}"))
    two = summary[[any(str(i).endswith(c) for c in TWO_REAL_VOTE) for i in summary.index]]
    if len(two) and "fuse (default)" in two:
        gain = two["oracle per video"] - two["best single"]
        share = (two["fuse (default)"] - two["best single"]) / gain.where(gain > 1e-9)
        print("\n== where two real models vote: the default against the oracles")
        print(pd.DataFrame({"default": two["fuse (default)"], "best single": two["best single"],
                            "oracle per video": two["oracle per video"], "share of its gain": share,
                            "oracle per frame": two["oracle per frame"],
                            "vs oracle per frame": two["fuse (default)"] - two["oracle per frame"]}).to_string(
            float_format=lambda x: f"{x:.4f}"))


if __name__ == "__main__":
    main()
