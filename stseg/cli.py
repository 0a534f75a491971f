"""The ``stseg`` command: one subcommand per workflow stage, plus ``evaluate`` and ``demo`` for people.

Every subcommand reads its inputs, writes its outputs atomically and exits
non-zero with a one-paragraph message (file, problem, fix) on bad input.
Heavy libraries are imported inside the subcommands so ``stseg --help`` is fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence


def _pairs(values: Sequence[str] | None, what: str) -> dict[str, str]:
    """Parse ``name=path`` arguments, keeping their order."""
    out: dict[str, str] = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"stseg: {what} must be given as NAME=PATH, got {value!r}")
        out[name] = path
    return out


def cmd_demo(args: argparse.Namespace) -> None:
    from .demo import write_demo

    width, height = (int(x) for x in args.size.lower().split("x"))
    names = write_demo(args.root, args.videos or None, width, height, args.frames)
    print(f"demo dataset with {len(names)} videos in {args.root}")


def cmd_validate(args: argparse.Namespace) -> None:
    from .dataset import DatasetError, list_videos, validate_dataset

    if not Path(args.root).is_dir():  # named on the command line, not in a config
        raise DatasetError(f"{args.root}: no such dataset folder. Give `stseg validate` the folder that holds "
                           "JPEGImages/ and Annotations/ (e.g. stseg validate data/demo).")
    videos = list_videos(args.root, args.videos or None, args.video_list)
    valid, invalid = validate_dataset(args.root, videos)
    for name, info in valid.items():
        later = f", later: {', '.join(f'{o} on {f}' for o, f in info.appearing)}" if info.appearing else ""
        print(f"ok       {name}: {len(info.frames)} frames {info.width}x{info.height}, objects {list(info.objects)}"
              f"{later}{', ground truth on every frame' if info.fully_annotated else ''}")
    for name, problem in invalid.items():
        print(f"INVALID  {name}:\n  " + problem.replace("\n", "\n  "))
    if invalid:
        raise SystemExit(1)


def cmd_preflight(args: argparse.Namespace) -> None:
    from .files import atomic_path
    from .preflight import format_checks, preflight

    checks = preflight(args.configfile, args.timeout)
    text = format_checks(checks)
    print(text, end="")
    if args.out:
        with atomic_path(args.out) as tmp:
            tmp.write_text(text)
    if any(not c.ok for c in checks):
        raise SystemExit(1)


def cmd_weights(args: argparse.Namespace) -> None:
    from .config_checks import read_configs
    from .weights import WeightsError, fetch, listing, needed_weights

    needed = needed_weights(read_configs(args.configfile))
    if args.action == "list":
        print(listing(needed), end="")
        return
    problems = []
    for item in needed:
        try:
            print(fetch(item, args.mirror), flush=True)
        except WeightsError as error:
            problems.append(str(error))
            print(f"PROBLEM  {error}", flush=True)
    if problems:
        raise SystemExit(1)


def cmd_models(args: argparse.Namespace) -> None:
    from .models import REGISTRY, model_class, readiness

    for spec in REGISTRY.values():
        print(f"{spec.name:<16} {'gpu' if spec.gpu else 'cpu'}  {readiness(spec.name):<44} {spec.summary}")
        if args.options:
            kind = model_class(spec.name)
            for name, default in kind.defaults.items():
                allowed = f"; {kind.limits[name]}" if name in kind.limits else ""
                print(f"    options.{name}: default {default!r}{allowed}")


def cmd_infer(args: argparse.Namespace) -> None:
    from .files import atomic_path
    from .gpus import claim_gpus
    from .inference import run_model
    from .job_record import check_gpu_job, job_record
    from .models import model_class

    options = json.loads(args.options) if args.options else {}
    print(f"stseg infer: {args.model_type} with {sys.executable}", file=sys.stderr, flush=True)
    if args.gpus:
        claim_gpus(args.gpus, args.gpu_locks)
    check_gpu_job(args.model_type, options, args.gpus, model_class(args.model_type).defaults)
    stats = run_model(args.model_type, options, args.frames, args.annotation, args.out, progress=not args.quiet,
                      mem_mb=args.mem_mb)
    print(f"{args.model_type}: {stats['frames']} frames in {stats['seconds']:.2f} s ({stats['fps']:.1f} frames/s; "
          f"building the model: {stats['load_seconds']:.2f} s)")
    if args.record:
        with atomic_path(args.record) as tmp:
            tmp.write_text(json.dumps(job_record(args.model_type, int(stats["frames"]), stats["seconds"],
                                                 {"load_seconds": round(stats["load_seconds"], 3)}), indent=1))


def cmd_infer_batch(args: argparse.Namespace) -> None:
    from .batching import BatchVideo, run_batch
    from .gpus import claim_gpus
    from .job_record import check_gpu_job
    from .models import model_class

    options = json.loads(args.options) if args.options else {}
    videos = BatchVideo.from_json(args.videos)
    if args.gpus:
        claim_gpus(args.gpus, args.gpu_locks)
    check_gpu_job(args.model_type, options, args.gpus, model_class(args.model_type).defaults)
    print(f"stseg infer-batch: {args.model_type} with {sys.executable}, {len(videos)} video(s)", file=sys.stderr, flush=True)
    record = run_batch(args.model_type, options, videos, args.staging, args.record, mem_mb=args.mem_mb,
                       progress=not args.quiet)
    computed = sum(1 for row in record["videos"] if row["computed"])
    print(f"{args.model_type}: {computed} of {len(videos)} video(s) computed in {record['seconds']:.2f} s "
          f"({record['model_seconds']:.2f} s of model work)")


def cmd_stamp(args: argparse.Namespace) -> None:
    from .files import atomic_path

    with atomic_path(args.out) as tmp:
        tmp.write_text(args.stamp + "\n")


def cmd_take(args: argparse.Namespace) -> None:
    from .batching import take_staged

    take_staged(args.staged, args.stamp, args.out)


def cmd_run_chunk(args: argparse.Namespace) -> None:
    from .chunks import read_steps, run_steps

    steps = read_steps(args.steps, args.digest)
    record = run_steps(steps, args.record, build_parser().parse_args)
    print(f"stseg run-chunk: {len(record['videos'])} video(s), {len(steps)} step(s) in {record['total_seconds']:.2f} s")


def cmd_fuse(args: argparse.Namespace) -> None:
    import pandas as pd

    from .annotation import read_annotation
    from .boxes import video_boxes
    from .fusion import fuse_boxes
    from .settings import FuseSettings, from_json
    from .tables import write_table

    settings = from_json(FuseSettings, args.settings)
    objects = read_annotation(args.annotation).objects
    tables = {name: video_boxes(path, objects) for name, path in _pairs(args.masks, "--masks").items()}
    if args.boxes_out:
        write_table(pd.concat([t.assign(model=name)[["model", *t.columns]] for name, t in tables.items()],
                              ignore_index=True), args.boxes_out)
    write_table(fuse_boxes(tables, settings.min_votes, settings.box_weighting), args.out)


def cmd_pseudolabel(args: argparse.Namespace) -> None:
    from .pseudolabel import build_pseudo_labels
    from .settings import PseudoLabelSettings, from_json
    from .tables import read_table, write_table

    settings = from_json(PseudoLabelSettings, args.settings)
    fused = read_table(args.fused) if args.fused else None
    weights = build_pseudo_labels(_pairs(args.masks, "--masks"), args.annotation, fused, args.out, settings,
                                  tuple(args.foreground_model or ()))
    if args.weights_out:
        write_table(weights, args.weights_out)


def cmd_split_foreground(args: argparse.Namespace) -> None:
    from .foreground import split_foreground
    from .settings import SplitSettings, from_json
    from .tables import read_table

    settings = from_json(SplitSettings, args.settings)
    masks = _pairs(args.masks, "--masks") if args.masks else {}
    fused = read_table(args.fused) if args.fused else None
    split_foreground(args.foreground, masks, args.annotation, fused, args.out, settings.ring_weight)


def cmd_score(args: argparse.Namespace) -> None:
    from .annotation import read_annotation
    from .dataset import list_frames
    from .scoring import score_models
    from .settings import ScoreSettings, from_json
    from .tables import write_table

    settings = from_json(ScoreSettings, args.settings)
    frames = list_frames(args.frames) if args.frames else []
    given = read_annotation(args.annotation) if args.annotation else None
    table = score_models(args.video, _pairs(args.masks, "--masks"), args.pseudo, settings, args.gt, frames, given)
    write_table(table, args.out)


def cmd_select(args: argparse.Namespace) -> None:
    from .annotation import read_annotation
    from .dataset import list_frames
    from .selection import run_selection
    from .settings import SelectSettings, from_json
    from .tables import read_table, write_table

    settings = from_json(SelectSettings, args.settings)
    masks = _pairs(args.masks, "--masks")
    scores = read_table(args.scores)
    prior = read_table(args.prior) if args.prior else None
    frames = list_frames(args.frames) if args.frames else []
    given = read_annotation(args.annotation) if args.annotation else None
    table, outcome = run_selection(args.video, scores, list(masks), masks, args.final, settings, args.pseudo, args.gt,
                                   prior, args.voters, frames, given, args.baselines or ())
    write_table(table, args.out)
    write_table(outcome, args.outcome)


def cmd_prior(args: argparse.Namespace) -> None:
    from .selection import dataset_prior
    from .settings import SelectSettings, from_json
    from .tables import read_table, write_table

    settings = from_json(SelectSettings, args.settings)
    table = dataset_prior([read_table(p) for p in args.scores], args.models, settings.edge_power)
    write_table(table, args.out)
    print(f"dataset prior: {table.iloc[0]['model']} (mean selection score {table.iloc[0]['score']:.4f} "
          f"over {int(table.iloc[0]['videos'])} videos)")


def cmd_summarize(args: argparse.Namespace) -> None:
    import pandas as pd

    from .files import atomic_path
    from .summary import format_summary, summarize
    from .tables import read_table, write_table

    scores = pd.concat([read_table(p) for p in args.scores], ignore_index=True)
    outcomes = pd.concat([read_table(p) for p in args.outcomes], ignore_index=True)
    per_video, overall = summarize(scores, outcomes, args.models)
    write_table(per_video, args.out)
    write_table(overall, args.overall)
    text = format_summary(per_video, overall, outcomes, args.strategy)
    with atomic_path(args.text) as tmp:
        tmp.write_text(text)
    print(text, end="")


def cmd_submission(args: argparse.Namespace) -> None:
    from .submission import write_submission

    count = write_submission(args.final_root, args.videos, args.out)
    print(f"{args.out}: {count} masks of {len(args.videos)} videos")


def cmd_finetune(args: argparse.Namespace) -> None:
    from .files import atomic_path
    from .finetune import FinetuneSettings, finetune

    settings = json.loads(args.settings)
    # the GPUs the job was given (its rule's resource `gpu`, which Snakemake lowers to what --resources allows)
    losses = finetune(FinetuneSettings(**settings, gpus=args.gpus, out_checkpoint=args.out, workdir=args.workdir))
    rows = losses.read_text().splitlines()[1:]
    values = [float(r.split(",")[2]) for r in rows]
    if args.losses:
        with atomic_path(args.losses) as tmp:
            tmp.write_text(losses.read_text())
    if values:
        print(f"fine-tuned {len(values)} steps: loss {values[0]:.4f} -> {values[-1]:.4f}; checkpoint {args.out}")


def cmd_finetune_tmo(args: argparse.Namespace) -> None:
    from .files import atomic_path
    from .tmo_finetune import TMOFinetuneSettings, finetune_tmo

    settings = json.loads(args.settings)
    losses = finetune_tmo(TMOFinetuneSettings(**settings, out_checkpoint=args.out, workdir=args.workdir))
    with atomic_path(args.losses) as tmp:
        tmp.write_text((Path(args.workdir) / "losses.csv").read_text())
    print(f"fine-tuned TMO {len(losses)} epochs: loss {losses[0]:.4f} -> {losses[-1]:.4f}; checkpoint {args.out}")


def cmd_flow(args: argparse.Namespace) -> None:
    from .tmo_finetune import write_flow_images

    count = write_flow_images(args.frames, args.out)
    print(f"{args.out}: {count} flow images")


def cmd_overlay(args: argparse.Namespace) -> None:
    from .report import overlay_captions, overlay_strip
    from .tables import read_table

    masks = _pairs(args.masks, "--masks")
    chosen, captions = overlay_captions(list(masks), read_table(args.scores), read_table(args.selection), args.strategy,
                                        args.gt is not None)
    rows = {**masks, "pseudo-label": args.pseudo, "final": args.final}
    if args.gt is not None:
        rows["ground truth"] = args.gt
    overlay_strip(args.frames, rows, captions, chosen, args.out, read_table(args.fused), models=list(masks),
                  small=args.small)


def cmd_report_summary(args: argparse.Namespace) -> None:
    from .job_record import read_records, resources_table
    from .report import summary_page
    from .tables import read_table

    summary_page(read_table(args.summary), read_table(args.overall), args.calibration, args.out, args.strategy,
                 resources_table(read_records(args.resources or [])))


def cmd_scores_plot(args: argparse.Namespace) -> None:
    from .report import scores_plot
    from .tables import read_table

    scores_plot(read_table(args.summary), args.out, args.models or ())


def cmd_calibration(args: argparse.Namespace) -> None:
    from .report import calibration_plot, calibration_table
    from .tables import read_table, write_table

    per_video = read_table(args.summary)
    figures = calibration_plot(per_video, args.out, args.models or ())
    write_table(calibration_table(per_video.dropna(subset=["gt_JF"])), args.table)
    print(f"selection picked the truly best model on {figures['hits']} of {figures['videos']} videos; "
          f"mean regret {figures['mean_regret']:.4f}; Kendall tau {figures['tau']:.3f}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    import numpy as np

    from .metrics import evaluate_rows

    rows = evaluate_rows(args.gt, args.pred, args.videos or None, args.variant, args.workers)
    if args.out:  # (pandas only for the table a user asked for: the command stays light)
        import pandas as pd

        from .tables import write_table

        write_table(pd.DataFrame(rows), args.out)

    def mean(key: str, of: list[dict]) -> float:
        values = [r[key] for r in of if r[key] == r[key]]  # NaN left out, as pandas' mean
        return float(np.mean(values)) if values else float("nan")

    print(f"{'video':<24} {'objects':>7} {'J':>8} {'F':>8} {'J&F':>8}")
    for video in dict.fromkeys(r["video"] for r in rows):
        mine = [r for r in rows if r["video"] == video]
        print(f"{video:<24} {len(mine):>7} {mean('J', mine):8.4f} {mean('F', mine):8.4f} {mean('JF', mine):8.4f}")
    label = "J&Ḟ (MOSE)" if args.variant == "mose" else "J&F"
    print(f"{'all objects (pooled)':<24} {len(rows):>7} {mean('J', rows):8.4f} {mean('F', rows):8.4f} "
          f"{mean('JF', rows):8.4f}   {label}")
    if args.variant == "mose":  # as MOSEv2's score.py: objects without such frames are left out of each mean
        for name in ("disappear", "reappear"):
            counted = sum(1 for r in rows if r[f"{name}_J"] == r[f"{name}_J"])
            value = (mean(f"{name}_J", rows) + mean(f"{name}_F", rows)) / 2
            print(f"{name}ance J&Ḟ {value:.4f} ({counted} object(s) with such frames)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stseg")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "(not installed)"


def _model_job_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments every model job takes (``infer``, ``infer-batch``): the model, the job's memory and GPUs."""
    p.add_argument("--model-type", required=True)
    p.add_argument("--options", default="{}", help="model options as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--mem-mb", type=int, help="the job's memory: fail at once if the model needs more")
    p.add_argument("--gpus", type=int, default=0, help="GPUs to claim on this machine (stseg.gpus; not inside SLURM)")
    p.add_argument("--gpu-locks", default=".stseg/gpus", help="the folder of the GPUs' lock files")


#: the subcommands the workflow's rules run, not a user (``stseg --help`` lists them apart)
WORKFLOW_STEPS = ("infer", "infer-batch", "stamp", "take", "run-chunk", "fuse", "split-foreground", "pseudolabel", "score",
                  "prior", "select", "summarize", "submission", "overlay", "report-summary", "scores-plot", "calibration",
                  "finetune", "finetune-tmo", "flow")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stseg", description=__doc__.splitlines()[0].replace("``", ""),
        epilog="workflow steps (run by the Snakemake rules; each has its own --help): " + ", ".join(WORKFLOW_STEPS))
    parser.add_argument("--version", action="version", version=f"stseg {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        """A command a user runs (listed by ``stseg --help``)."""
        return sub.add_parser(name, help=text, description=text)

    def step(name: str, text: str) -> argparse.ArgumentParser:
        """A workflow step a rule runs (named in ``stseg --help``'s epilog only)."""
        return sub.add_parser(name, description=text)

    p = command("demo", "generate the demo dataset (DAVIS layout, ground truth on every frame)")
    p.add_argument("root", help="the folder to write it in (JPEGImages/, Annotations/), e.g. data/demo")
    p.add_argument("--videos", nargs="*", help="only these of the nine videos (default: all), e.g. --videos twins crossing")
    p.add_argument("--size", default="854x480", help="WIDTHxHEIGHT (default 854x480)")
    p.add_argument("--frames", type=int, default=None, help="at most this many frames per video")
    p.set_defaults(func=cmd_demo)

    p = command("validate", "check a dataset folder and list its videos")
    p.add_argument("root", help="the dataset folder, holding JPEGImages/ and Annotations/, e.g. data/demo")
    p.add_argument("--videos", nargs="*", help="only these videos (default: every video), e.g. --videos twins")
    p.add_argument("--video-list", help="a file with one video per line, relative to root or absolute "
                   "(default: none), e.g. ImageSets/2017/val.txt")
    p.set_defaults(func=cmd_validate)

    p = command("preflight", "check a config before a run: the data, every model's weights, environment and GPU, one "
                "frame through each model")
    p.add_argument("--configfile", nargs="+", required=True, metavar="FILE",
                   help="the run's config file(s), as given to snakemake (later files override earlier ones); "
                   "e.g. --configfile configs/stseg-mose.yaml")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds one model may take for its frame (default 600)")
    p.add_argument("--out", help="also write the report here (the workflow's preflight target)")
    p.set_defaults(func=cmd_preflight)

    p = command("weights", "the weights a config needs: where each comes from, whether it is here and verified; "
                "`fetch` downloads what is missing")
    p.add_argument("action", nargs="?", choices=["list", "fetch"], default="list", help="list (default) or fetch")
    p.add_argument("--configfile", nargs="+", required=True, metavar="FILE",
                   help="the run's config file(s), as given to snakemake; e.g. --configfile configs/stseg-mose.yaml")
    p.add_argument("--mirror", help="fetch from this server instead of each file's published address (the same "
                   "file names; a FILE.sha256 there is checked), e.g. http://mirror.lab/weights/")
    p.set_defaults(func=cmd_weights)

    p = command("models", "list the registered models")
    p.add_argument("--options", action="store_true", help="also each model's options: default and allowed values")
    p.set_defaults(func=cmd_models)

    p = step("infer", "run one model on one video")
    _model_job_arguments(p)
    p.add_argument("--frames", required=True, help="folder of the video's JPEG frames")
    p.add_argument("--annotation", required=True, nargs="+",
                   help="first-frame annotation (palette PNG), then any later PNGs that introduce objects")
    p.add_argument("--out", required=True, help="output folder of per-frame PNGs")
    p.add_argument("--record", help="write what the job ran on and used here (JSON; stseg.job_record)")
    p.set_defaults(func=cmd_infer)

    p = step("infer-batch", "run one model on several videos with one model load (inference.videos_per_job)")
    _model_job_arguments(p)
    p.add_argument("--videos", required=True,
                   help="JSON list of {video, frames, annotation: [PNG...], stamp}")
    p.add_argument("--staging", required=True, help="folder of the staged videos (<video>/ and <video>.stamp)")
    p.add_argument("--record", required=True, help="the batch's record (JSON), written last")
    p.set_defaults(func=cmd_infer_batch)

    p = step("stamp", "write a video's stamp (what a batched model's masks of it depend on)")
    p.add_argument("--stamp", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_stamp)

    p = step("take", "put a staged video of a batch job at its per-video path (hard links)")
    p.add_argument("--staged", required=True)
    p.add_argument("--stamp", required=True, help="the stamp the staged video must have been made with")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_take)

    p = step("run-chunk", "the light stages of several videos in one process (stages.videos_per_job)")
    p.add_argument("--steps", required=True, help="JSON file: [{video, argv: [stseg command and its arguments]}]")
    p.add_argument("--digest", required=True, help="the digest the steps file must have (stseg.chunks.steps_digest)")
    p.add_argument("--record", required=True, help="the chunk's record (JSON), written last")
    p.set_defaults(func=cmd_run_chunk)

    settings = "the stage's settings as JSON (written by the workflow from the config; stseg.settings)"
    p = step("fuse", "the models' boxes and their average and max fusion (one video)")
    p.add_argument("--masks", nargs="+", required=True, metavar="MODEL=DIR", help="the voting models' masks")
    p.add_argument("--annotation", required=True, nargs="+", help="first-frame annotation and later ones (the objects)")
    p.add_argument("--boxes-out", help="write every model's boxes here (one table, column `model` first)")
    p.add_argument("--settings", required=True, help=settings)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_fuse)

    p = step("pseudolabel", "pseudo-labels of one video from the models' masks and fused boxes")
    p.add_argument("--masks", nargs="+", required=True, metavar="MODEL=DIR")
    p.add_argument("--annotation", required=True, nargs="+")
    p.add_argument("--fused")
    p.add_argument("--out", required=True)
    p.add_argument("--weights-out")
    p.add_argument("--settings", required=True, help=settings)
    p.add_argument("--foreground-model", action="append", help="a model whose masks are foreground only (TMO)")
    p.set_defaults(func=cmd_pseudolabel)

    p = step("split-foreground", "a foreground-only model's masks (TMO) split into the annotation's objects")
    p.add_argument("--foreground", required=True, help="folder of the model's foreground PNGs")
    p.add_argument("--masks", nargs="*", metavar="MODEL=DIR", help="object-level voting models' masks")
    p.add_argument("--annotation", required=True, nargs="+")
    p.add_argument("--fused", help="fused boxes of the video")
    p.add_argument("--settings", required=True, help=settings)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_split_foreground)

    p = step("score", "J&F of every model against the pseudo-labels (and ground truth), edge alignment")
    p.add_argument("--video", required=True)
    p.add_argument("--masks", nargs="+", required=True, metavar="MODEL=DIR")
    p.add_argument("--pseudo", required=True)
    p.add_argument("--frames", help="the video's JPEG folder (for the edge alignment)")
    p.add_argument("--gt")
    p.add_argument("--annotation", nargs="+", help="the given annotation: the objects and the frame each is scored after "
                   "(default: the objects of the reference's first frame)")
    p.add_argument("--settings", required=True, help=settings)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_score)

    p = step("select", "choose per video and per object; write the final masks")
    p.add_argument("--video", required=True)
    p.add_argument("--scores", required=True)
    p.add_argument("--masks", nargs="+", required=True, metavar="MODEL=DIR", help="in config order (the tie-break)")
    p.add_argument("--pseudo", help="the pseudo-labels (the vote strategy's masks)")
    p.add_argument("--prior", help="the dataset prior (prior.csv from `stseg prior`): pgmr.prior_margin, the fusion's "
                   "reliabilities")
    p.add_argument("--voters", nargs="+", help="the voting models (pgmr.models), the fusion's voters (default: all)")
    p.add_argument("--baselines", nargs="*", help="the weight-free baselines among the models (pgmr.baselines)")
    p.add_argument("--frames", help="the video's JPEG folder (the edge alignment of strategy auto's candidates)")
    p.add_argument("--annotation", nargs="+", help="the given annotation (objects first annotated later)")
    p.add_argument("--gt")
    p.add_argument("--settings", required=True, help=settings)
    p.add_argument("--final", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--outcome", required=True)
    p.set_defaults(func=cmd_select)

    p = step("prior", "the dataset prior: the model with the best mean selection score over the videos")
    p.add_argument("--scores", nargs="+", required=True, help="every video's score table")
    p.add_argument("--models", nargs="+", required=True, help="in config order (the tie-break)")
    p.add_argument("--settings", required=True, help=settings)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_prior)

    p = step("summarize", "the run summary tables")
    p.add_argument("--scores", nargs="+", required=True)
    p.add_argument("--outcomes", nargs="+", required=True)
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--strategy", help="the configured strategy (pgmr.strategy): the final answer's rows")
    p.add_argument("--out", required=True)
    p.add_argument("--overall", required=True)
    p.add_argument("--text", required=True)
    p.set_defaults(func=cmd_summarize)

    p = step("submission", "zip the final masks in the layout MOSE's server reads")
    p.add_argument("--final-root", required=True)
    p.add_argument("--videos", nargs="+", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_submission)

    p = step("finetune", "fine-tune SAM 2.1 with the sam2 package's MOSE recipe")
    p.add_argument("--settings", required=True, help="JSON: train_root, init_checkpoint, size, resolution, epochs, ...")
    p.add_argument("--workdir", required=True, help="trainer folder (logs, resumable checkpoints)")
    p.add_argument("--out", required=True, help="the fine-tuned checkpoint ({'model': state_dict})")
    p.add_argument("--losses", help="copy of the per-step training losses (CSV)")
    p.add_argument("--gpus", type=int, default=1, help="the GPUs the job was given, one process each (default 1)")
    p.set_defaults(func=cmd_finetune)

    p = step("finetune-tmo", "fine-tune TMO with its own Trainer on a DAVIS/MOSE-layout split")
    p.add_argument("--settings", required=True, help="JSON: train_root, flow_root, repo, init_checkpoint, epochs, ...")
    p.add_argument("--workdir", required=True, help="the trainer's working folder (its weights/ checkpoints)")
    p.add_argument("--out", required=True, help="the fine-tuned weights (a plain state dict, as TMO_rn101.pth)")
    p.add_argument("--losses", required=True, help="the loss of every epoch (CSV)")
    p.set_defaults(func=cmd_finetune_tmo)

    p = step("flow", "OpenCV flow images of a video's frames (TMO's input), one JPEG per frame")
    p.add_argument("--frames", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_flow)

    p = step("overlay", "one video's overlay strip for the report")
    p.add_argument("--frames", required=True)
    p.add_argument("--masks", nargs="+", required=True, metavar="MODEL=DIR")
    p.add_argument("--pseudo", required=True)
    p.add_argument("--final", required=True)
    p.add_argument("--fused", required=True)
    p.add_argument("--scores", required=True)
    p.add_argument("--selection", required=True)
    p.add_argument("--strategy", required=True)
    p.add_argument("--gt", help="the ground truth (a row of its own)")
    p.add_argument("--out", required=True, help="the full-size strip (PNG)")
    p.add_argument("--small", help="and a downscaled JPEG copy for the report")
    p.set_defaults(func=cmd_overlay)

    p = step("report-summary", "the report's first page: pooled and per-video tables, calibration")
    p.add_argument("--summary", required=True)
    p.add_argument("--overall", required=True)
    p.add_argument("--calibration", help="the calibration figure (PNG), when there is ground truth")
    p.add_argument("--strategy", help="the configured strategy (pgmr.strategy): its row is the final answer")
    p.add_argument("--resources", nargs="*", help="the models' jobs' records (resources/<model>/<video>.json, batch records)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report_summary)

    p = step("scores-plot", "every model's J&F per video, as bars")
    p.add_argument("--summary", required=True)
    p.add_argument("--models", nargs="*", help="in config order (fixes each model's colour)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_scores_plot)

    p = step("calibration", "pseudo-label J&F against true J&F, regret per video (needs ground truth)")
    p.add_argument("--summary", required=True)
    p.add_argument("--models", nargs="*", help="in config order (fixes each model's colour)")
    p.add_argument("--out", required=True)
    p.add_argument("--table", required=True)
    p.set_defaults(func=cmd_calibration)

    p = command("evaluate", "J&F of predictions against ground truth (official DAVIS 2017 method)")
    p.add_argument("--gt", required=True, help="the ground truth: <video>/<frame>.png, e.g. data/demo/Annotations")
    p.add_argument("--pred", required=True, help="the predictions: <video>/<frame>.png, e.g. results/final")
    p.add_argument("--videos", nargs="*", help="only these videos (default: every video of --gt), e.g. --videos twins")
    p.add_argument("--variant", default="davis", choices=["davis", "mose"],
                   help="davis (default): the official DAVIS 2017 J&F; mose: MOSEv2's J&Ḟ")
    p.add_argument("--workers", type=int, default=1, help="processes scoring videos at once (default 1), e.g. 4")
    p.add_argument("--out", help="also write a CSV with one row per (video, object), e.g. jf.csv")
    p.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from .errors import StsegError

    try:
        args.func(args)
    except StsegError as error:  # an expected problem with the input: one line, no traceback; anything else raises
        print(f"stseg {args.command}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
