"""The checks a config passes before any job runs: every one names the config key and the fix.

The workflow validates the config against ``stseg/schemas/config.schema.yaml``
(Snakemake's ``validate``, which also fills the schema's defaults); the checks
here are what a schema cannot say: a key given twice, NaN, a path that is empty
or lies inside the dataset, a results folder this user cannot write, names that
are not plain folder names, voters that do not exist, and the dataset's videos.
:class:`Problems` gathers the problems of one parse so that a run reports them
all at once.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import yaml

from .dataset import DatasetError, VideoInfo, list_videos, validate_dataset
from .errors import StsegError
from .names import RULE, name_problem

__all__ = ["ConfigError", "Problems", "check_config_files", "check_finite", "check_locations", "check_names",
           "check_precomputed_videos", "check_schema", "schema_problems",
           "check_voters", "check_writable", "config_path", "ensure_demo", "load_schema", "read_configs", "validated_videos"]

SCHEMA = Path(__file__).with_name("schemas") / "config.schema.yaml"
T = TypeVar("T")


class ConfigError(StsegError, ValueError):
    """A config that passes the schema but names something that does not exist; the message says which."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last silently)."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(
                f"{node.start_mark.name}: the key {key!r} is given twice in one mapping (lines {seen[key] + 1} and "
                f"{key_node.start_mark.line + 1}); YAML would keep the last silently. Keep one of them; nothing was run."
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


class Problems:
    """The config's problems found at parse time, gathered so that one run reports them all."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def check(self, step: Callable[..., T], *args: Any) -> T | None:
        """``step(*args)``, or None with its expected error (:class:`StsegError`) kept."""
        try:
            return step(*args)
        except StsegError as error:
            self.found.append(str(error))
            return None

    def raise_all(self) -> None:
        if len(self.found) == 1:
            raise ConfigError(self.found[0])
        if self.found:
            listed = "\n".join(f"- {problem}" for problem in self.found)
            raise ConfigError(f"{len(self.found)} problems in the config or the data; nothing was run:\n{listed}")


def check_config_files(paths: Sequence[str | os.PathLike[str]]) -> None:
    """Refuse config files with a duplicated key (Snakemake reads them with plain YAML)."""
    for path in paths:
        with open(path) as handle:
            yaml.load(handle, Loader=_UniqueKeyLoader)


def check_finite(config: Any, key: str = "") -> None:
    """Refuse NaN and infinities anywhere in the config (JSON-schema bounds let NaN through)."""
    if isinstance(config, Mapping):
        for name, value in config.items():
            check_finite(value, f"{key}.{name}" if key else str(name))
    elif isinstance(config, (list, tuple)):
        for index, value in enumerate(config):
            check_finite(value, f"{key}[{index}]")
    elif isinstance(config, float) and not math.isfinite(config):
        raise ConfigError(f"{key}: {config} is not a finite number. Give a number; nothing was run.")


def _key_lines(paths: Sequence[str | os.PathLike[str]]) -> dict[tuple[str, ...], tuple[str, int]]:
    """Where each key path of the config files is written: (file, line), the last file that writes it."""
    where: dict[tuple[str, ...], tuple[str, int]] = {}

    def walk(node: Any, path: tuple[str, ...], name: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                inner = (*path, str(key.value))
                where[inner] = (name, key.start_mark.line + 1)
                walk(value, inner, name)

    for path in paths:
        try:
            walk(yaml.compose(Path(path).read_text(), Loader=yaml.SafeLoader), (), str(path))
        except (OSError, yaml.YAMLError):
            continue
    return where


def schema_problems(config: Mapping[str, Any], paths: Sequence[str | os.PathLike[str]] = ()) -> list[str]:
    """Every way ``config`` breaks the schema, one line each: the file and line that write it (``paths``: the config
    files), the key, what is wrong and what is allowed, from the schema itself."""
    import jsonschema

    schema = yaml.safe_load(SCHEMA.read_text())
    where = _key_lines(paths)
    problems = []
    for error in sorted(jsonschema.Draft202012Validator(schema).iter_errors(config), key=lambda e: list(e.path)):
        keys = tuple(str(k) for k in error.path)
        if error.validator == "additionalProperties":
            extra = [k for k in (error.instance or {}) if k not in (error.schema.get("properties") or {})]
            allowed = sorted(error.schema.get("properties") or {})
            for key in extra:
                place = where.get((*keys, key))
                at = f"{place[0]}, line {place[1]}: " if place else ""
                problems.append(f"{at}{'.'.join((*keys, key))}: unknown key; allowed here: {', '.join(allowed)}")
            continue
        place = where.get(keys)
        at = f"{place[0]}, line {place[1]}: " if place else ""
        if error.validator == "enum":
            what = f"{error.instance!r} is not allowed; choose one of {', '.join(map(str, error.validator_value))}"
        elif error.validator == "required":
            what = error.message.replace("is a required property", "is required here")
        else:
            what = error.message
        described = (error.schema or {}).get("description")
        problems.append(f"{at}{'.'.join(keys) or 'the config'}: {what}" + (f" ({described})" if described and
                                                                               error.validator != "enum" else ""))
    return problems


def check_schema(config: Mapping[str, Any], paths: Sequence[str | os.PathLike[str]] = ()) -> None:
    """Refuse a config that breaks the schema, listing every problem at once (:func:`schema_problems`)."""
    problems = schema_problems(config, paths)
    if len(problems) == 1:
        raise ConfigError(f"{problems[0]}; nothing was run.")
    if problems:
        listed = "\n".join(f"- {p}" for p in problems)
        raise ConfigError(f"{len(problems)} problems in the config; nothing was run:\n{listed}")


def read_configs(paths: Sequence[str | os.PathLike[str]]) -> dict[str, Any]:
    """A config as the workflow reads it from ``--configfile`` files (each merged into the ones before), validated
    against the schema with its defaults filled in (Snakemake's ``validate``)."""
    from snakemake.utils import validate

    config: dict[str, Any] = {}
    for path in paths:
        try:
            check_config_files([path])
            loaded = yaml.safe_load(Path(path).read_text())
        except yaml.YAMLError as error:  # a syntax error, a tab, a !!python tag: where, and what
            mark = getattr(error, "problem_mark", None)
            at = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            what = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise ConfigError(f"{path}{at}: not a YAML config ({what}). Fix the file (indent with spaces, no tabs; "
                              "plain values only, no !! tags).") from None
        if loaded is None:
            raise ConfigError(f"{path}: the config file is empty. Give at least dataset:, results: and models:.")
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"{path}: a config is a mapping of keys (dataset:, results:, models:, ...), not a "
                              f"{type(loaded).__name__}.")
        config = _merged(config, loaded)
    check_schema(config, paths)
    validate(config, schema=str(load_schema()))  # (the schema's defaults filled in)
    return config


def _merged(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        out[key] = _merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
    return out


def load_schema() -> Path:
    """Path of the config's JSON schema (YAML), for ``snakemake.utils.validate``."""
    return SCHEMA


def check_writable(results: Path, try_it: bool = True) -> None:
    """Refuse a results folder this user cannot write, before any job runs (nothing is lost).  ``try_it``: a file made
    and removed there; without, the permission bits alone (a dry run writes nothing)."""
    existing = results.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    writable = existing.is_dir() and os.access(existing, os.W_OK)
    if writable and try_it:  # try it: permission bits say nothing for root, nor for read-only mounts
        try:
            handle, probe = tempfile.mkstemp(prefix=".stseg-write-test-", dir=existing)
        except OSError:
            writable = False
        else:
            os.close(handle)
            os.unlink(probe)
    if not writable:
        raise ConfigError(
            f"results: {existing} is not a folder this user can write"
            f"{' (the results folder would be created inside it)' if existing != results.absolute() else ''}. "
            "Choose another 'results:' folder in the config or fix its permissions; nothing was run."
        )


def config_path(value: str, key: str) -> Path:
    """A folder named in the config: ``~`` expanded (as a shell would; never a folder literally named ``~``), an
    empty value refused."""
    if not str(value).strip():
        raise ConfigError(f"{key}: the path is empty. Give a folder (e.g. {key}: results); nothing was run.")
    if "{" in str(value) or "}" in str(value):
        raise ConfigError(f"{key}: {value} contains '{{' or '}}', which Snakemake reads as a wildcard in every path "
                          "built from it. Rename the folder (or link to it from a path without braces); nothing was run.")
    return Path(value).expanduser()


def _lost_ground_truth(root: Path, video: str, frames: Sequence[str]) -> str | None:
    """Why a video annotated on most of its frames (ground truth with a hole) is not scored against it."""
    folder = root / "Annotations" / video
    have = {p.stem for p in folder.glob("*.png") if not p.name.startswith(".")}
    missing = [f for f in frames if f not in have]
    if len(have) < 3 or len(missing) > len(frames) / 2:
        return None  # sparse annotations (objects first given later), not ground truth with a hole
    shown = ", ".join(f"{m}.png" for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
    return (f"ground truth on {len(frames) - len(missing)} of {len(frames)} frames (missing {shown}): it is not scored "
            "against the ground truth, which needs every frame, and is left out of the summary's pooled rows. Restore "
            "the missing PNG(s) to score it.")


def check_precomputed_videos(name: str, path: str, videos: Sequence[str]) -> None:
    """A precomputed model's folder holds every video's masks."""
    folder = Path(path).expanduser()
    missing = [video for video in videos if not (folder / video).is_dir()]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ConfigError(f"models.{name}.options.path: {folder} has no masks of {len(missing)} video(s) ({shown}). "
                          "Add <path>/<video>/<frame>.png for each, or leave those videos out (dataset.videos).")


def ensure_demo(config: Mapping[str, Any]) -> None:
    """Generate the embedded demo dataset at ``dataset.root`` when ``dataset.demo`` is set and the folder is absent."""
    root = config_path(config["dataset"]["root"], "dataset.root")
    if not root.exists() and config["dataset"].get("demo", False):
        from .demo import write_demo

        print(f"stseg: generating the demo dataset in {root} ...", file=sys.stderr)
        write_demo(root)


def check_locations(root: Path, results: Path, try_it: bool = True) -> None:
    """The results folder lies outside the dataset and can be written (``try_it``: :func:`check_writable`)."""
    if results.resolve() == root.resolve() or root.resolve() in results.resolve().parents:
        raise ConfigError(
            f"results: {results} lies inside the dataset folder {root}; the next run would read the results as "
            "part of the dataset. Choose a 'results:' folder outside dataset.root; nothing was run."
        )
    check_writable(results, try_it)


def check_names(models: Mapping[str, Any], finetune_runs: Mapping[str, Any]) -> None:
    """Model and fine-tune run names follow the one name rule (:mod:`stseg.names`)."""
    for kind, names in (("models", models), ("finetune", finetune_runs)):
        for name in names:
            problem = name_problem(name)
            if problem:
                raise ConfigError(f"{kind}: the name {name[:60]!r} cannot be used: {problem}; {RULE}. "
                                  f"Rename it under '{kind}:' in the config; nothing was run.")


def check_voters(pgmr: Mapping[str, Any], foreground_only: Mapping[str, bool]) -> None:
    """``pgmr.models`` names configured models (``foreground_only``: each model's kind), at least one segments
    objects, and ``min_votes`` can be reached."""
    models = list(foreground_only)
    unknown = sorted(set(pgmr.get("models", []) or []) - set(models))
    if unknown:
        raise ConfigError(f"pgmr.models names {unknown}, which are not under models: ({sorted(models)})")
    chosen = pgmr.get("models") or list(models)
    box_voters = [m for m in chosen if not foreground_only[m]]
    if not box_voters:
        raise ConfigError(
            f"pgmr.models ({chosen}) has only foreground-only models; the fused boxes need at least one model "
            "that segments the annotation's objects."
        )
    if int(pgmr["min_votes"]) > len(box_voters):
        raise ConfigError(
            f"pgmr.min_votes is {pgmr['min_votes']} but only {len(box_voters)} model(s) vote for the fused boxes "
            f"({box_voters}); no object could ever be kept. Lower pgmr.min_votes or add voting models."
        )


def validated_videos(dataset: Mapping[str, Any], root: Path, cache: Path,
                     write_cache: bool = True) -> tuple[dict[str, VideoInfo], dict[str, str]]:
    """The dataset's videos, validated (cached in ``cache``, written with ``write_cache``); invalid ones refused or
    skipped."""
    names = list_videos(root, dataset.get("videos") or None, dataset.get("video_list"))
    valid, invalid = validate_dataset(root, names, cache, write_cache)
    if invalid and dataset["on_invalid"] == "error":
        details = "\n".join(f"[{video}]\n{problem}" for video, problem in invalid.items())
        raise DatasetError(
            f"{len(invalid)} of {len(names)} video(s) in {root} are invalid (set dataset.on_invalid: skip "
            f"to run the others):\n{details}"
        )
    for video, problem in invalid.items():
        print(f"stseg: skipping invalid video {video!r}:\n  {problem}", file=sys.stderr)
    if dataset.get("ground_truth", "auto") == "auto":
        for video, info in valid.items():
            lost = _lost_ground_truth(root, video, info.frames) if not info.fully_annotated else None
            if lost:
                print(f"stseg: {video}: {lost}", file=sys.stderr)
    if not valid:
        raise DatasetError(f"{root}: no valid video to process.")
    return valid, invalid
