"""Trained models on the Hugging Face Hub: publish a run folder to a model repo, pull it back.

A model repo holds, at each commit, what ``hrgldd map`` needs and nothing else::

    model.safetensors   the weights (never a pickle)
    config.json         architecture, training run, and the training data (bands, sensor,
                        normalization, release name and version, threshold)
    manifest.json       sha256 and size of the two files above
    README.md           the model card

The rules are those of dataset releases (:mod:`hrgldd_data.hub.client`): every pulled file is
checked against the manifest (a file that fails is fetched once more, then the pull stops naming
it); pulled revisions are cached by the commit they resolved to, and open offline
(``HF_HUB_OFFLINE=1``) once pulled::

    $HRGLDD_CACHE/models/<org>--<name>/index.json   revision -> commit (offline lookups)
    $HRGLDD_CACHE/models/<org>--<name>/<commit>/    the files of that commit

A revision is a branch (``main``, the default), a tag or a commit sha: ``ORG/NAME@v1``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hrgldd_data import citation
from hrgldd_data.errors import HubError
from hrgldd_data.fileio import sha256_file
from hrgldd_data.hub.cache import cache_root, read_index, write_index
from hrgldd_data.hub.connection import endpoint, http_reason, hub_api, needs_hub, offline, unchanged

log = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
MODEL_MANIFEST = "manifest.json"
CARD = "README.md"
#: Files whose checksums the manifest holds.
MODEL_FILES = (WEIGHTS, CONFIG)
_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class ModelPublishResult:
    repo: str
    commit: str
    tag: str | None
    uploaded: int
    url: str


def parse_model_ref(text: str) -> tuple[str, str | None]:
    """``ORG/NAME[@revision]`` -> (repo, revision or None)."""
    repo, _, revision = text.strip().partition("@")
    if not _REPO_RE.match(repo):
        raise HubError(f"model {text!r}: a Hub model is named ORG/NAME or ORG/NAME@revision")
    return repo, revision or None


def looks_like_repo(text: str) -> bool:
    """True for ``ORG/NAME`` or ``ORG/NAME@rev`` (so a caller can tell it from a local path)."""
    return bool(_REPO_RE.match(text.strip().partition("@")[0]))


def model_cache(repo: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder of one model repo."""
    return cache_root(cache_dir) / "models" / repo.replace("/", "--")


def read_model_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """``config.json`` of a model folder; the error names the folder and the fix."""
    folder = Path(folder)
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise HubError(
            f"{folder}: not a complete model folder (missing {', '.join(missing)}); give the "
            "folder of a trained run (it holds model.safetensors and config.json)"
        )
    try:
        return json.loads((folder / CONFIG).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise HubError(f"{folder / CONFIG}: not valid JSON ({err}); retrain the run") from err


def write_model_manifest(folder: Path, into: Path) -> dict[str, Any]:
    """Write ``manifest.json``: sha256 and size of ``folder``'s weights and config, in ``into``."""
    manifest = {
        "kind": "hrgldd-model",
        "files": {
            name: {"sha256": sha256_file(folder / name), "size": (folder / name).stat().st_size}
            for name in MODEL_FILES
        },
    }
    (into / MODEL_MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def mismatched_files(folder: Path) -> list[str]:
    """Files of a pulled model folder that are missing or fail their manifest sha256 and size."""
    try:
        manifest = json.loads((folder / MODEL_MANIFEST).read_text())
        entries = manifest["files"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return [MODEL_MANIFEST]
    bad = [name for name in MODEL_FILES if name not in entries]
    for name, entry in sorted(entries.items()):
        path = folder / name
        if (
            not path.is_file()
            or path.stat().st_size != entry.get("size")
            or sha256_file(path) != entry.get("sha256")
        ):
            bad.append(name)
    return bad


def render_model_card(
    config: dict[str, Any], repo: str, scores: dict[str, float] | None = None
) -> str:
    """The model card (README.md) of a published run, from its ``config.json``.

    ``scores``: the run's best validation scores (from its ``state.json``), shown when given.
    """
    import yaml

    data = config.get("data", {})
    model = config.get("model", {})
    train = config.get("train", {})
    release = data.get("release", {})
    sensor = data.get("sensor", {})
    norm = data.get("normalization", {})
    bands = data.get("bands", [])
    front = {
        "library_name": "hrgldd",
        "license": "mit",
        "pipeline_tag": "image-segmentation",
        "tags": ["landslide", "semantic-segmentation", "remote-sensing", "hr-gldd"]
        + ([model["name"]] if model.get("name") else []),
    }
    rows = "\n".join(
        f"| {band} | {mean:.4g} | {std:.4g} |"
        for band, mean, std in zip(bands, norm.get("mean", []), norm.get("std", []), strict=False)
    )
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False).strip(),
        "---",
        "",
        f"# {repo}",
        "",
        f"A **{model.get('name', '?')}** landslide segmentation model (first-layer filters "
        f"{model.get('filters', '?')}) trained with hrgldd (the HR-GLDD reference software) on "
        f"release **{release.get('name', '?')} {release.get('version', '?')}** "
        f"({sensor.get('name', '?')}, {sensor.get('resolution_m', '?')} m). It returns the "
        f"probability that a pixel is a landslide; pixels above {data.get('threshold', 0.5)} are "
        "mapped as landslides.",
        "",
        "## Use it",
        "",
        "```bash",
        f"hrgldd map post_event_scene.tif --model {repo} --out maps/",
        "```",
        "",
        "The scene needs the bands below (mapped from band descriptions, the PlanetScope order, or "
        "`--bands name=index,...`). Inputs are normalized with the statistics of the training "
        "release's train split, stored in `config.json` with the weights:",
        "",
        "| band | mean | std |",
        "|---|---|---|",
        rows,
        "",
        f"Units: {sensor.get('units', '?')}.",
        "",
        "## Training",
        "",
        f"- run: seed {train.get('seed', '?')}, batch {train.get('batch_size', '?')}, "
        f"learning rate {train.get('lr', '?')}, best validation epoch "
        f"{config.get('best_epoch', '?')}, precision {train.get('precision', '?')}",
    ]
    if scores:
        lines.append(
            "- validation (pooled, landslide class): "
            + ", ".join(f"{k} {v:.3f}" for k, v in scores.items() if isinstance(v, float))
        )
    lines += [
        "- files: `model.safetensors` (weights), `config.json` (architecture and training data), "
        "`manifest.json` (sha256 of both)",
        "",
        "## Citation",
        "",
        citation.reference(),
        "",
        "```bibtex",
        citation.bibtex().strip(),
        "```",
        "",
    ]
    return "\n".join(lines)


# -- publish ---------------------------------------------------------------------------------------
@needs_hub
def publish_model(
    run: str | os.PathLike[str],
    repo: str,
    *,
    tag: str | None = None,
    private: bool = False,
    message: str | None = None,
) -> ModelPublishResult:
    """Upload a trained run (weights, config, manifest, model card) to the model repo ``repo``.

    One commit on ``main``; files the remote ``main`` already holds byte for byte are not sent
    again, and an unchanged ``main`` gets no new commit, so a failed publish can be repeated.
    ``tag`` (e.g. ``v1``) names the commit; a tag that exists is never moved. The caller checks
    that the weights load (``hrgldd publish-model`` loads them first).
    """
    from huggingface_hub import CommitOperationAdd, RepoFile, get_token
    from huggingface_hub.errors import HfHubHTTPError

    run = Path(run)
    repo, revision = parse_model_ref(repo)
    if revision:
        raise HubError(f"--repo {repo}@{revision}: publish to a repo, then tag it with --tag")
    config = read_model_config(run)
    if "data" not in config:
        raise HubError(
            f"refusing to publish {run}: its config.json does not record the training data "
            "(bands, normalization, release), so nobody could apply it. Re-run its training "
            "command with this hrgldd (a finished run is only re-labelled), then publish again."
        )
    token = get_token()
    if not token:
        raise HubError(
            f"publishing needs a Hugging Face token with write access to {repo}: set HF_TOKEN "
            "or run `hf auth login`"
        )
    api = hub_api(token)
    try:
        api.create_repo(repo, repo_type="model", exist_ok=True, private=private)
        refs = api.list_repo_refs(repo, repo_type="model")
        if tag and any(t.name == tag for t in refs.tags):
            raise HubError(f"{repo} already has the tag {tag}: tags are never moved; pick another")
        head = next((b.target_commit for b in refs.branches if b.name == "main"), None)
        remote = {
            f.path: f
            for f in (
                api.list_repo_tree(repo, repo_type="model", revision=head, recursive=True)
                if head
                else ()
            )
            if isinstance(f, RepoFile)
        }
        with tempfile.TemporaryDirectory(prefix="hrgldd-model-") as staging:
            staging = Path(staging)
            write_model_manifest(run, staging)
            (staging / CARD).write_text(render_model_card(config, repo, _best_val(run)))
            files = {name: run / name for name in MODEL_FILES}
            files |= {name: staging / name for name in (MODEL_MANIFEST, CARD)}
            additions = [
                CommitOperationAdd(name, str(path))
                for name, path in sorted(files.items())
                if not unchanged(path, remote.get(name))
            ]
            commit = head
            if additions:
                model = config.get("model", {}).get("name", "model")
                release = config["data"].get("release", {})
                info = api.create_commit(
                    repo,
                    additions,
                    commit_message=message
                    or f"{model} trained on {release.get('name')} {release.get('version')}",
                    repo_type="model",
                    revision="main",
                    parent_commit=head,
                )
                commit = info.oid
        if tag:
            api.create_tag(repo, tag=tag, revision=commit, repo_type="model")
    except HfHubHTTPError as err:
        raise HubError(
            f"publishing {run} to the model repo {repo} failed: {http_reason(err)}. "
            "Re-run to finish."
        ) from err
    return ModelPublishResult(repo, commit, tag, len(additions), f"{endpoint()}/{repo}")


def _best_val(run: Path) -> dict[str, float] | None:
    """The best validation scores a training run recorded in its ``state.json``, if any."""
    try:
        return json.loads((run / "state.json").read_text()).get("best_val")
    except (OSError, json.JSONDecodeError):
        return None


# -- pull ------------------------------------------------------------------------------------------
def _cached(folder: Path, revision: str | None) -> Path | None:
    """The cached folder a revision resolved to when it was pulled (or a commit sha); for no
    revision, ``main`` if it was pulled, else the revision pulled last."""
    revisions = read_index(folder).get("revisions", {})
    if revision is None:
        revision = "main" if "main" in revisions else (list(revisions) or [None])[-1]
        if revision is None:
            return None
    entry = revisions.get(revision)
    commit = entry["commit"] if entry else revision if _SHA_RE.match(revision) else None
    if commit and (folder / commit / MODEL_MANIFEST).is_file():
        return folder / commit
    return None


@needs_hub
def pull_model(
    ref: str,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Download ``ORG/NAME[@revision]`` (default ``main``), verify it, return its folder.

    A revision already pulled is verified and returned without the network when it is a commit
    sha, or at all with ``HF_HUB_OFFLINE=1`` (where no revision means ``main`` if pulled, else
    the revision pulled last); a branch or tag is resolved again online (it may have moved) and
    downloads only when it now points at another commit.
    """
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    repo, asked = parse_model_ref(ref)
    folder = model_cache(repo, cache_dir)
    if offline():
        cached = _cached(folder, asked)
        if cached is None:
            pulled = sorted(read_index(folder).get("revisions", {}))
            raise HubError(
                f"model {repo}@{asked or 'main'} is not in the cache {folder} and HF_HUB_OFFLINE "
                f"is set; pulled revisions: {pulled or 'none'}. Pull it once while online "
                f"(`hrgldd map ... --model {ref}`)"
            )
        return _verified(cached, repo, asked or "main")
    revision = asked or "main"
    cached = _cached(folder, revision)
    if cached is not None and _SHA_RE.match(revision):
        return _verified(cached, repo, revision)

    api = hub_api()
    try:
        refs = api.list_repo_refs(repo, repo_type="model")
    except RepositoryNotFoundError as err:
        raise HubError(
            f"model repo {repo} not found on {endpoint()}: check the name (--model ORG/NAME); "
            "a private repo also needs HF_TOKEN"
        ) from err
    except HfHubHTTPError as err:
        raise HubError(f"cannot read model repo {repo}: {http_reason(err)}") from err
    named = {b.name: b.target_commit for b in refs.branches}
    named |= {t.name: t.target_commit for t in refs.tags}
    commit = named.get(revision)
    if commit is None and _SHA_RE.match(revision):
        commit = revision
    if commit is None:
        raise HubError(
            f"model repo {repo} has no revision {revision!r}; branches "
            f"{sorted(b.name for b in refs.branches)}, tags {sorted(t.name for t in refs.tags)}"
        )
    target = folder / commit
    if not (target / MODEL_MANIFEST).is_file() or mismatched_files(target):
        common = dict(repo_type="model", revision=commit, local_dir=target, endpoint=endpoint())
        try:
            snapshot_download(
                repo,
                cache_dir=folder / ".hf",
                allow_patterns=[*MODEL_FILES, MODEL_MANIFEST, CARD],
                **common,
            )
            if not (target / MODEL_MANIFEST).is_file():
                raise HubError(
                    f"{repo}@{revision} (commit {commit[:12]}) holds no {MODEL_MANIFEST}: it was "
                    "not published with `hrgldd publish-model`"
                )
            bad = mismatched_files(target)
            if bad:
                log.warning("%s@%s: %s failed sha256; fetching again", repo, revision, bad)
                for name in bad:
                    hf_hub_download(repo, name, force_download=True, **common)
        except HfHubHTTPError as err:
            raise HubError(
                f"downloading model {repo}@{revision} failed: {http_reason(err)}. Re-run to resume."
            ) from err
    _verified(target, repo, revision)
    index = read_index(folder)
    revisions = index.setdefault("revisions", {})
    revisions.pop(revision, None)  # keep the order of pulls: the last one comes last
    revisions[revision] = {"commit": commit}
    index["repo"] = repo
    write_index(folder, index)
    return target


def _verified(target: Path, repo: str, revision: str) -> Path:
    bad = mismatched_files(target)
    if bad:
        raise HubError(
            f"model {repo}@{revision} in {target}: {', '.join(bad)} fail their sha256 in "
            f"{MODEL_MANIFEST}. The copy on the Hub or in the cache is corrupt (or the connection "
            f"alters data): delete {target} and pull again while online; if it fails again, "
            "report it to the model's maintainers."
        )
    return target


__all__ = [
    "CARD",
    "CONFIG",
    "MODEL_FILES",
    "MODEL_MANIFEST",
    "WEIGHTS",
    "ModelPublishResult",
    "looks_like_repo",
    "mismatched_files",
    "model_cache",
    "parse_model_ref",
    "publish_model",
    "pull_model",
    "read_model_config",
    "render_model_card",
]
