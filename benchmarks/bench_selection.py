"""Every selection strategy on every dataset with ground truth: does the final answer beat the best single model?

Sets (each run through the workflow once with the default config, so the masks
and pseudo-labels are the pipeline's own; then every strategy is applied with
stseg's own scoring and selection functions):

* ``demo``: the embedded synthetic demo (9 videos, ground truth per object);
* ``davis-fullgt``: two real DAVIS videos, ground truth per object on every frame;
* ``davis-multiobj``: two real two-object DAVIS videos, scored as *foreground* J&F
  against their per-frame foreground ground truth (``Annotations_union``);
* each DAVIS set with and without OSVOS's published results as a ``precomputed`` model.

Strategies: the per-video pick with ``edge_power`` p (0 = STSeg's agreement
rule), with ``absent`` score/skip, without and with the dataset prior
(``prior_margin``); the per-object pick; the pixel vote (``strategy: vote``);
and, measured here only, a first-frame anchor: each model's mask at frames 5,
10 and 20 carried back to frame 0 by the ``flow`` model and compared with the
annotation (the pick by that alone).  Printed per set: each single model, each strategy, the per-video
oracle, the share of the oracle's gain over the best single model recovered,
Kendall's tau between selection score and true J&F over all (video, model)
pairs, and the mean regret.  Defaults are chosen by the worst case over sets.

    python benchmarks/bench_selection.py [--work /tmp/stseg-bench-selection] [--shared ../shared/data]
                                         [--demo-frames N]   (the demo cut to N frames: a quick check)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stseg.dataset import list_frames  # noqa: E402
from stseg.masks import object_ids, read_label_map  # noqa: E402
from stseg.metrics import score_arrays  # noqa: E402
from stseg.scoring import score_models  # noqa: E402
from stseg.selection import dataset_prior, run_selection  # noqa: E402
from stseg.settings import ScoreSettings, SelectSettings, defaults  # noqa: E402

BUILTINS = {
    "copy": {"type": "copy"},
    "flow": {"type": "flow", "options": {"scale": 1.0, "preset": "medium"}},
    "global": {"type": "global", "options": {"transform": "homography"}},
    "appearance": {"type": "appearance"},
}
EDGE_POWERS = (0.0, 0.5, 1.0, 2.0, 4.0)
MARGINS = (None, 0.1, 0.25, 0.5)


def run_workflow(name: str, root: Path, work: Path, osvos: str) -> Path:
    """``osvos``: "" (not used), "scored" (a candidate, not a voter) or "votes" (a candidate and a voter)."""
    models = dict(BUILTINS)
    voters = ["flow", "global", "appearance"]
    if osvos:
        models["osvos"] = {"type": "precomputed", "options": {"path": str(root / "Results" / "osvos")}}
    if osvos == "votes":
        voters.append("osvos")
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


class Truth:
    """J&F of a folder of masks against a set's ground truth: per object, or foreground (``Annotations_union``)."""

    def __init__(self, root: Path, foreground: bool) -> None:
        self.root, self.foreground = root, foreground

    def __call__(self, video: str, masks: Path) -> list[float]:
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
        return [r["JF"] for r in score_arrays(pairs, objects, video, frames).rows()]


def anchor_score(root: Path, results: Path, video: str, model: str, horizons=(5, 10, 20)) -> float:
    """The first-frame anchor: the model's mask at frame t carried back to frame 0 by the ``flow`` model
    (DIS flow, half resolution), mean IoU with the annotation over t in ``horizons`` and the objects."""
    import cv2

    from stseg.models.flow import FlowPropagation

    files = list_frames(root / "JPEGImages" / video)
    annotation = read_label_map(root / "Annotations" / video / f"{files[0].stem}.png")
    objects = object_ids(annotation)
    values = []
    for t in (h for h in horizons if h < len(files)):
        labels = read_label_map(results / "masks" / model / video / f"{files[t].stem}.png", allow_greyscale=True)
        back = FlowPropagation(scale=0.5, preset="fast")
        back.start(cv2.imread(str(files[t])), labels)
        back.objects = objects  # carry every annotated object, even one the model lost
        for k in range(t - 1, -1, -1):
            labels = back.step(cv2.imread(str(files[k])))
        for obj in objects:
            union = np.count_nonzero((annotation == obj) | (labels == obj))
            values.append(np.count_nonzero((annotation == obj) & (labels == obj)) / union if union else 1.0)
    return float(np.mean(values)) if values else float("nan")


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def evaluate_set(name: str, root: Path, results: Path, truth: Truth) -> pd.DataFrame:
    videos = sorted(p.name for p in (results / "final").iterdir() if p.is_dir())
    models = [m for m in [*BUILTINS, "osvos"] if (results / "masks" / m).is_dir()]
    true = {(v, m): truth(v, results / "masks" / m / v) for v in videos for m in models}
    rows = []
    pooled = lambda picks: float(np.mean([x for v in videos for x in picks[v]]))  # noqa: E731
    for m in models:
        rows.append(("single", m, pooled({v: true[v, m] for v in videos}), np.nan, np.nan))
    best_single = max(r[2] for r in rows)
    oracle = pooled({v: max((true[v, m] for m in models), key=np.mean) for v in videos})
    rows.append(("oracle", "per video", oracle, np.nan, 0.0))
    anchors = {(v, m): anchor_score(root, results, v, m) for v in videos for m in models}
    for label, choose in (("anchor alone", lambda v: max(models, key=lambda m: anchors[v, m])),):
        picks = {v: true[v, choose(v)] for v in videos}
        tau = kendall_tau(np.array([anchors[k] for k in true]), np.array([np.mean(true[k]) for k in true]))
        regret = [max(np.mean(true[v, m]) for m in models) - np.mean(picks[v]) for v in videos]
        rows.append(("video", label, pooled(picks), tau, float(np.mean(regret))))
    with tempfile.TemporaryDirectory() as tmp:
        for absent in ("score", "skip"):
            tables = {}
            for v in videos:
                files = list_frames(root / "JPEGImages" / v)
                tables[v] = score_models(v, {m: results / "masks" / m / v for m in models}, results / "pseudo" / v,
                                         defaults(ScoreSettings, absent=absent), None, files).assign(video=v)
            for power in EDGE_POWERS:
                prior = dataset_prior(list(tables.values()), models, power)
                prior_model = str(prior[prior["chosen"] == 1]["model"].iloc[0])
                runs = [("video", margin) for margin in MARGINS]
                if (absent, power) in (("score", 0.0), ("skip", 0.0), ("skip", 2.0)):
                    runs += [("object", None), ("vote", None)]
                for strategy, margin in runs:
                    picks, regret, scores = {}, [], {}
                    for v in videos:
                        out = Path(tmp) / f"{absent}-{power}-{strategy}-{margin}" / v
                        settings = defaults(SelectSettings, strategy=strategy, edge_power=power, prior_margin=margin)
                        table, _ = run_selection(v, tables[v], models, {m: results / "masks" / m / v for m in models},
                                                 out, settings, results / "pseudo" / v, None, prior_model)
                        picks[v] = truth(v, out)
                        regret.append(max(np.mean(true[v, m]) for m in models) - np.mean(picks[v]))
                        level = table[table["level"] == "video"].set_index("model")
                        scores.update({(v, m): float(level.loc[m, "score"]) for m in models})
                    tau = kendall_tau(np.array([scores[k] for k in true]), np.array([np.mean(true[k]) for k in true]))
                    label = strategy if margin is None else f"{strategy}, prior margin {margin:g}"
                    rows.append((label, f"absent={absent}, edge_power={power:g}", pooled(picks),
                                 tau if strategy == "video" else np.nan, float(np.mean(regret))))
    table = pd.DataFrame(rows, columns=["strategy", "variant", "JF", "tau", "regret"])
    gain = oracle - best_single
    table["recovered"] = (table["JF"] - best_single) / gain if gain > 0 else np.nan
    table["vs_best_single"] = table["JF"] - best_single
    return table.assign(set=name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "stseg-bench-selection")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--demo-frames", type=int, help="cut the demo's videos to this many frames (default: all)")
    args = parser.parse_args()
    demo = args.work / "demo-data"
    if not demo.exists():
        from stseg.demo import write_demo

        write_demo(demo, max_frames=args.demo_frames)
    sets = [("demo", demo, False, "")]
    for name, foreground in (("davis-fullgt", False), ("davis-multiobj", True)):
        if (args.shared / name).is_dir():
            sets += [(name, args.shared / name, foreground, ""),
                     (f"{name}+osvos-scored", args.shared / name, foreground, "scored"),
                     (f"{name}+osvos-votes", args.shared / name, foreground, "votes")]
        else:
            print(f"{args.shared / name} absent: skipped")
    tables = []
    for name, root, foreground, osvos in sets:
        results = run_workflow(name, root, args.work, osvos)
        table = evaluate_set(name, root, results, Truth(root, foreground))
        tables.append(table)
        print(f"\n== {name} ({'foreground' if foreground else 'per-object'} J&F)")
        print(table.drop(columns="set").to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    everything = pd.concat(tables, ignore_index=True)
    everything.to_csv(args.work / "selection.csv", index=False)
    keyed = everything[everything["strategy"] != "single"].copy()
    keyed["name"] = keyed["strategy"] + " | " + keyed["variant"]
    per_set = keyed.pivot_table(index="name", columns="set", values="vs_best_single", sort=False)
    per_set.columns = [c.replace("davis-", "") for c in per_set.columns]
    per_set["worst"] = per_set.min(axis=1)
    per_set["mean"] = per_set.drop(columns="worst").mean(axis=1)
    print("\n== J&F minus the best single model of each set; sorted by the worst case over sets")
    print(per_set.sort_values(["worst", "mean"], ascending=False).to_string(float_format=lambda x: f"{x:+.3f}"))


if __name__ == "__main__":
    main()
