"""Rotten Tomatoes (Pang & Lee sentence polarity), rebuilt offline from a PyPI archive.

Source
------
The sdist of ``vaderSentiment==3.3.2`` on PyPI ships the VADER paper's
evaluation data (Hutto & Gilbert, ICWSM 2014) as
``vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz``; inside,
``hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt`` holds the Pang & Lee
(2005) movie-review sentences as UTF-8, tab-separated
``id<TAB>mean rating<TAB>text`` lines with CRLF line ends.  Ids 1-5152 come
from the positive file (label 1) and ids 5153-10312 from the negative file
(label 0); the 293 rows with larger ids are VADER's mixed-polarity additions
and are dropped.  The label comes from the id, not from the crowd rating.
Label names are ``("negative", "positive")``, as in HF ``rotten_tomatoes``.

Departures from HF ``rotten_tomatoes``: 10,312 sentences instead of 10,662,
original casing and punctuation instead of lower-cased tokenised text, and a
split of our own, because the source carries none.

Split
-----
The paper's split is 8530/1066/1066 of 10662.  Per class with ``n`` rows,
validation and test each get ``round_half_up(n * 1066 / 10662)`` rows and
train the rest: 516/516/4128 of the 5160 negatives and 515/515/4122 of the
5152 positives, i.e. train 8250, validation 1031, test 1031.  With
``rng = numpy.random.default_rng(seed)`` (seed 0 by default), each class in
label order (0, then 1) is permuted by ``rng.permutation``; the first rows of
the permutation go to validation, the next to test, the rest to train.  Each
split is then shuffled with one more ``rng.permutation`` so that classes
interleave in the written files.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ior.data.cache import (
    atomic_write_text,
    cache_dir,
    files_match_manifest,
    read_manifest,
    sha256_file,
    write_manifest,
)

__all__ = [
    "LABEL_NAMES",
    "SPLITS",
    "download_vader_sdist",
    "prepare_rotten_tomatoes",
    "read_ground_truth",
    "rt_dir",
    "split_counts",
    "stratified_split",
]

logger = logging.getLogger(__name__)

VADER_REQUIREMENT = "vaderSentiment==3.3.2"
VADER_SDIST_NAME = "vaderSentiment-3.3.2.tar.gz"
#: sha256 of the PyPI sdist; pip checks it against PyPI when downloading.
VADER_SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER_ARCHIVE_MEMBER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
GROUND_TRUTH_MEMBER = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"

LABEL_NAMES: tuple[str, ...] = ("negative", "positive")
SPLITS: tuple[str, ...] = ("train", "validation", "test")
#: Inclusive id ranges of the Pang & Lee polarity rows in the ground-truth file.
POSITIVE_IDS = (1, 5152)
NEGATIVE_IDS = (5153, 10312)
#: Split sizes of the original paper, used only as proportions.
PAPER_SPLIT_SIZES = {"train": 8530, "validation": 1066, "test": 1066}
DEFAULT_SEED = 0
#: Bump when the rows or split written for the same source and seed change.
BUILDER_VERSION = 1

_PIP_TIMEOUT_S = 900


def rt_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """Directory holding the prepared splits: ``<cache>/datasets/rt``."""
    return cache_dir(cache) / "datasets" / "rt"


def download_vader_sdist(directory: str | os.PathLike[str]) -> Path:
    """Download the ``vaderSentiment==3.3.2`` sdist into ``directory`` with pip.

    Runs ``python -m pip download --no-deps --no-binary :all:`` with the current
    interpreter into a temporary sub-directory, then moves the archive into
    place, so an interrupted download leaves nothing behind.

    Returns
    -------
    pathlib.Path
        Path of ``vaderSentiment-3.3.2.tar.gz`` inside ``directory``.
    """
    target_dir = Path(directory)
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pip-download-", dir=target_dir) as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            "--disable-pip-version-check", VADER_REQUIREMENT, "-d", tmp,
        ]
        logger.info("downloading %s with pip", VADER_REQUIREMENT)
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"could not run pip to download {VADER_REQUIREMENT}: {exc}") from None
        if result.returncode != 0:
            lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
            last = lines[-1].strip() if lines else f"exit code {result.returncode}"
            raise RuntimeError(f"pip could not download {VADER_REQUIREMENT}: {last}")
        found = [p for p in Path(tmp).iterdir() if p.name.lower() == VADER_SDIST_NAME.lower()]
        if not found:
            raise RuntimeError(f"pip finished but {VADER_SDIST_NAME} is not in its output directory")
        final = target_dir / VADER_SDIST_NAME
        os.replace(found[0], final)
    return final


def _read_member(tar: tarfile.TarFile, name: str, where: str) -> bytes:
    try:
        member = tar.getmember(name)
    except KeyError:
        raise ValueError(f"member {name!r} not found in {where}") from None
    handle = tar.extractfile(member) if member.isfile() else None
    if handle is None:
        raise ValueError(f"member {name!r} in {where} is not a regular file")
    with handle:
        return handle.read()


def read_ground_truth(archive: str | os.PathLike[str]) -> list[tuple[int, str, int]]:
    """Read the polarity rows from the sdist, in memory.

    Parameters
    ----------
    archive : str or os.PathLike
        Path of ``vaderSentiment-3.3.2.tar.gz`` (or any archive with the same
        nested layout).

    Returns
    -------
    list of (int, str, int)
        ``(id, text, label)`` in file order, mixed rows (id > 10312) dropped.
    """
    return _parse_ground_truth(archive)[0]


def _parse_ground_truth(archive: str | os.PathLike[str]) -> tuple[list[tuple[int, str, int]], int]:
    """Rows as in :func:`read_ground_truth`, and the number of mixed rows dropped."""
    path = Path(archive)
    if not path.is_file():
        raise ValueError(f"archive not found: {str(path)!r}")
    try:
        with tarfile.open(path, mode="r:*") as outer:
            inner_bytes = _read_member(outer, INNER_ARCHIVE_MEMBER, str(path))
        with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:*") as inner:
            raw = _read_member(inner, GROUND_TRUTH_MEMBER, INNER_ARCHIVE_MEMBER)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValueError(f"cannot read archive {str(path)!r}: {exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{GROUND_TRUTH_MEMBER} is not valid UTF-8: {exc}") from None
    rows: list[tuple[int, str, int]] = []
    seen: set[int] = set()
    dropped = 0
    # Split on "\n" only: str.splitlines would also break on U+2028 and friends.
    for line_no, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("\t", 2)
        if len(fields) != 3:
            raise ValueError(
                f"{GROUND_TRUTH_MEMBER} line {line_no}: expected 3 tab-separated fields; got {len(fields)}"
            )
        try:
            row_id = int(fields[0])
        except ValueError:
            raise ValueError(f"{GROUND_TRUTH_MEMBER} line {line_no}: id {fields[0]!r} is not an integer") from None
        if row_id in seen:
            raise ValueError(f"{GROUND_TRUTH_MEMBER} line {line_no}: duplicate id {row_id}")
        seen.add(row_id)
        if POSITIVE_IDS[0] <= row_id <= POSITIVE_IDS[1]:
            rows.append((row_id, fields[2], 1))
        elif NEGATIVE_IDS[0] <= row_id <= NEGATIVE_IDS[1]:
            rows.append((row_id, fields[2], 0))
        elif row_id > NEGATIVE_IDS[1]:
            dropped += 1
        else:
            raise ValueError(f"{GROUND_TRUTH_MEMBER} line {line_no}: id {row_id} is below {POSITIVE_IDS[0]}")
    if not rows:
        raise ValueError(f"{GROUND_TRUTH_MEMBER} in {str(path)!r} has no polarity rows")
    return rows, dropped


def split_counts(n: int) -> dict[str, int]:
    """Split sizes for one class of ``n`` rows, in the paper's 8530/1066/1066 proportions.

    Validation and test each get ``round_half_up(n * 1066 / 10662)``; train
    gets the rest.

    Examples
    --------
    >>> split_counts(5160)
    {'train': 4128, 'validation': 516, 'test': 516}
    >>> split_counts(5152)
    {'train': 4122, 'validation': 515, 'test': 515}
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int; got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"n must be >= 0; got {n}")
    total = sum(PAPER_SPLIT_SIZES.values())
    n_val = (2 * int(n) * PAPER_SPLIT_SIZES["validation"] + total) // (2 * total)
    n_test = (2 * int(n) * PAPER_SPLIT_SIZES["test"] + total) // (2 * total)
    return {"train": int(n) - n_val - n_test, "validation": n_val, "test": n_test}


def stratified_split(labels: Sequence[int], *, seed: int = DEFAULT_SEED) -> dict[str, np.ndarray]:
    """Deterministic stratified train/validation/test indices (see the module docstring).

    Parameters
    ----------
    labels : sequence of int
        Class label of each row, shape [N].
    seed : int, default 0
        Seed of the ``numpy.random.default_rng`` generator.

    Returns
    -------
    dict of str to numpy.ndarray
        Row indices (int64) for ``"train"``, ``"validation"`` and ``"test"``;
        disjoint, covering all rows, each in shuffled order.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int; got {type(seed).__name__}")
    y = np.asarray(labels, dtype=np.int64)
    if y.ndim != 1:
        raise ValueError(f"labels must be one-dimensional; got shape {y.shape}")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {split: [] for split in SPLITS}
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        members = members[rng.permutation(len(members))]
        counts = split_counts(len(members))
        start = 0
        for split in ("validation", "test", "train"):
            parts[split].append(members[start : start + counts[split]])
            start += counts[split]
    result = {}
    for split in SPLITS:
        joined = np.concatenate(parts[split]) if parts[split] else np.zeros(0, dtype=np.int64)
        result[split] = joined[rng.permutation(len(joined))].astype(np.int64)
    return result


def _locate_archive(archive: str | os.PathLike[str] | None, downloads: Path) -> Path:
    if archive is not None:
        path = Path(archive).expanduser()
        if path.is_dir():
            path = path / VADER_SDIST_NAME
        if not path.is_file():
            raise ValueError(f"archive not found: {str(path)!r}")
        return path
    cached = downloads / VADER_SDIST_NAME
    if cached.is_file():
        logger.debug("using cached %s", cached)
        return cached
    return download_vader_sdist(downloads)


def _summary(directory: Path, manifest: dict[str, Any], *, cached: bool) -> dict[str, Any]:
    splits = {
        split: {**manifest["counts"][split], "sha256": manifest["files"][f"{split}.jsonl"]["sha256"]}
        for split in SPLITS
    }
    return {
        "path": str(directory),
        "counts": {split: splits[split]["rows"] for split in SPLITS},
        "splits": splits,
        "source_sha256": manifest["source"]["archive_sha256"],
        "seed": manifest["seed"],
        "dropped_mixed_rows": manifest["dropped_mixed_rows"],
        "cached": cached,
    }


def prepare_rotten_tomatoes(
    cache: str | os.PathLike[str] | None = None,
    *,
    archive: str | os.PathLike[str] | None = None,
    seed: int = DEFAULT_SEED,
    force: bool = False,
    expected_sha256: str | None = VADER_SDIST_SHA256,
) -> dict[str, Any]:
    """Build ``<cache>/datasets/rt/{train,validation,test}.jsonl`` and its manifest.

    Parameters
    ----------
    cache : str or os.PathLike, optional
        Cache root (see :func:`ior.data.cache.cache_dir`).
    archive : str or os.PathLike, optional
        An already-downloaded ``vaderSentiment-3.3.2.tar.gz`` (or a directory
        holding it).  By default the cached copy in ``<cache>/downloads`` is
        used, and downloaded with pip when missing.
    seed : int, default 0
        Seed of the stratified split.
    force : bool, default False
        Rebuild even if the manifest says the splits are already there.
    expected_sha256 : str or None
        Required sha256 of the archive; ``None`` accepts any archive with the
        right layout (used by tests with synthetic archives).

    Returns
    -------
    dict
        ``path``, ``counts`` (rows per split), ``splits`` (per split: ``rows``,
        per-class counts, ``sha256``),
        ``source_sha256``, ``seed``, ``dropped_mixed_rows`` and ``cached``
        (True when nothing had to be rebuilt).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int; got {type(seed).__name__}")
    root = cache_dir(cache)
    out = rt_dir(root)
    explicit = None if archive is None else _locate_archive(archive, root / "downloads")
    explicit_sha = None if explicit is None else sha256_file(explicit)
    try:
        manifest = read_manifest(out) if out.is_dir() else None
    except ValueError:
        manifest = None
    if (
        not force
        and files_match_manifest(out, manifest)
        and manifest.get("builder_version") == BUILDER_VERSION
        and manifest.get("seed") == int(seed)
        and (explicit_sha is None or manifest.get("source", {}).get("archive_sha256") == explicit_sha)
    ):
        logger.info("Rotten Tomatoes already prepared in %s", out)
        return _summary(out, manifest, cached=True)

    source = explicit if explicit is not None else _locate_archive(None, root / "downloads")
    source_sha = explicit_sha if explicit_sha is not None else sha256_file(source)
    if expected_sha256 is not None and source_sha != expected_sha256:
        raise ValueError(
            f"archive {str(source)!r} has sha256 {source_sha}; expected {expected_sha256} "
            f"for {VADER_SDIST_NAME}"
        )
    rows, dropped = _parse_ground_truth(source)
    labels = [label for _, _, label in rows]
    indices = stratified_split(labels, seed=int(seed))

    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    counts: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        lines = []
        per_class = [0] * len(LABEL_NAMES)
        for i in indices[split]:
            _, text, label = rows[int(i)]
            per_class[label] += 1
            lines.append(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
        atomic_write_text(out / f"{split}.jsonl", "".join(lines))
        counts[split] = {"rows": len(lines), **dict(zip(LABEL_NAMES, per_class))}
    payload = {
        "dataset": "rotten_tomatoes",
        "builder_version": BUILDER_VERSION,
        "format": "jsonl with fields text (str) and label (int)",
        "label_names": list(LABEL_NAMES),
        "seed": int(seed),
        "split_method": (
            "per class: numpy default_rng(seed).permutation; validation and test get "
            "round_half_up(n*1066/10662) each, train the rest; each split shuffled once more"
        ),
        "counts": counts,
        "dropped_mixed_rows": dropped,
        "source": {
            "requirement": VADER_REQUIREMENT,
            "archive": source.name,
            "archive_sha256": source_sha,
            "member": f"{INNER_ARCHIVE_MEMBER}::{GROUND_TRUTH_MEMBER}",
        },
    }
    write_manifest(out, payload, files=[f"{split}.jsonl" for split in SPLITS])
    manifest = read_manifest(out)
    logger.info(
        "Rotten Tomatoes prepared in %s: %s",
        out,
        ", ".join(f"{split} {counts[split]['rows']}" for split in SPLITS),
    )
    return _summary(out, manifest, cached=False)

