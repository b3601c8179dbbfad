"""Tests for ior.data.rotten_tomatoes on a small synthetic archive with the real nested layout."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ior.data.cache import read_manifest
from ior.data.rotten_tomatoes import (
    GROUND_TRUTH_MEMBER,
    INNER_ARCHIVE_MEMBER,
    VADER_SDIST_NAME,
    prepare_rotten_tomatoes,
    read_ground_truth,
    split_counts,
    stratified_split,
)

N_POS, N_NEG, N_MIXED = 60, 70, 5


def _tar_gz(members: dict[str, bytes], directories: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in directories:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def ground_truth_lines() -> list[str]:
    lines = [f"{i}\t{1.5 + i / 100}\tgood film number {i} – “fine”, ''really''" for i in range(1, N_POS + 1)]
    lines += [f"{5152 + i}\t{-1.5}\tbad film number {i}\twith a tab" for i in range(1, N_NEG + 1)]
    lines += [f"{10312 + i}\t0.5\tmixed film {i}" for i in range(1, N_MIXED + 1)]
    return lines


def build_archive(path: Path, lines: list[str] | None = None, *, member: str = GROUND_TRUTH_MEMBER) -> Path:
    text = "\r\n".join(ground_truth_lines() if lines is None else lines)
    inner = _tar_gz(
        {member: text.encode("utf-8"), "hutto_ICWSM_2014/_README_.txt": b"readme"},
        directories=("hutto_ICWSM_2014",),
    )
    outer = _tar_gz({INNER_ARCHIVE_MEMBER: inner, "vaderSentiment-3.3.2/setup.py": b"# setup"})
    path.write_bytes(outer)
    return path


@pytest.fixture()
def archive(tmp_path):
    return build_archive(tmp_path / VADER_SDIST_NAME)


def _read_split(directory: Path, split: str) -> list[dict]:
    raw = (directory / f"{split}.jsonl").read_bytes()
    assert b"\r" not in raw
    return [json.loads(line) for line in raw.decode("utf-8").splitlines()]


def test_read_ground_truth_drops_mixed_rows_and_strips_crlf(archive):
    rows = read_ground_truth(archive)
    assert len(rows) == N_POS + N_NEG
    assert all(row_id <= 10312 for row_id, _, _ in rows)
    assert Counter(label for _, _, label in rows) == {1: N_POS, 0: N_NEG}
    assert all(label == (1 if row_id <= 5152 else 0) for row_id, _, label in rows)
    assert not any("\r" in text for _, text, _ in rows)
    assert rows[0][1] == "good film number 1 – “fine”, ''really''"
    assert rows[-1][1] == f"bad film number {N_NEG}\twith a tab"


def test_split_counts_match_documented_real_numbers():
    assert split_counts(5160) == {"train": 4128, "validation": 516, "test": 516}
    assert split_counts(5152) == {"train": 4122, "validation": 515, "test": 515}
    totals = {s: split_counts(5160)[s] + split_counts(5152)[s] for s in ("train", "validation", "test")}
    assert totals == {"train": 8250, "validation": 1031, "test": 1031}
    assert split_counts(0) == {"train": 0, "validation": 0, "test": 0}
    with pytest.raises(ValueError, match="n must be >= 0; got -1"):
        split_counts(-1)


def test_stratified_split_is_deterministic_disjoint_and_stratified():
    labels = [0] * 500 + [1] * 300
    first = stratified_split(labels, seed=0)
    second = stratified_split(labels, seed=0)
    other = stratified_split(labels, seed=1)
    assert all(np.array_equal(first[s], second[s]) for s in first)
    assert not np.array_equal(first["test"], other["test"])
    union = np.concatenate(list(first.values()))
    assert sorted(union.tolist()) == list(range(800))
    y = np.asarray(labels)
    for split in first:
        counts = Counter(y[first[split]].tolist())
        assert counts[0] == split_counts(500)[split]
        assert counts[1] == split_counts(300)[split]


def test_prepare_writes_splits_and_manifest(tmp_path, archive):
    summary = prepare_rotten_tomatoes(tmp_path / "cache", archive=archive, expected_sha256=None)
    out = Path(summary["path"])
    assert out == tmp_path / "cache" / "datasets" / "rt"
    assert summary["cached"] is False
    assert summary["dropped_mixed_rows"] == N_MIXED
    splits = {s: _read_split(out, s) for s in ("train", "validation", "test")}
    texts = {s: {row["text"] for row in rows} for s, rows in splits.items()}
    assert not texts["train"] & texts["test"]
    assert not texts["train"] & texts["validation"]
    assert not texts["validation"] & texts["test"]
    assert sum(len(rows) for rows in splits.values()) == N_POS + N_NEG
    assert not any("mixed" in row["text"] for rows in splits.values() for row in rows)
    for split, rows in splits.items():
        counts = Counter(row["label"] for row in rows)
        assert counts[1] == split_counts(N_POS)[split]
        assert counts[0] == split_counts(N_NEG)[split]
        assert summary["splits"][split]["rows"] == len(rows)
        assert summary["splits"][split]["positive"] == counts[1]
    # Rows are shuffled within a split, so labels interleave.
    assert len({row["label"] for row in splits["train"][:20]}) == 2
    manifest = read_manifest(out)
    assert manifest["seed"] == 0
    assert manifest["label_names"] == ["negative", "positive"]
    assert manifest["source"]["archive_sha256"] == summary["source_sha256"]
    assert set(manifest["files"]) == {"train.jsonl", "validation.jsonl", "test.jsonl"}
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_prepare_is_deterministic_across_caches(tmp_path, archive):
    a = prepare_rotten_tomatoes(tmp_path / "a", archive=archive, expected_sha256=None)
    b = prepare_rotten_tomatoes(tmp_path / "b", archive=archive, expected_sha256=None)
    for split in ("train", "validation", "test"):
        assert a["splits"][split]["sha256"] == b["splits"][split]["sha256"]
        assert (Path(a["path"]) / f"{split}.jsonl").read_bytes() == (Path(b["path"]) / f"{split}.jsonl").read_bytes()


def test_second_prepare_is_cached_and_changes_trigger_rebuild(tmp_path, archive):
    cache = tmp_path / "cache"
    first = prepare_rotten_tomatoes(cache, archive=archive, expected_sha256=None)
    second = prepare_rotten_tomatoes(cache, archive=archive, expected_sha256=None)
    assert second["cached"] is True
    assert second["splits"] == first["splits"]
    # With the archive cached under downloads/, no archive argument is needed either.
    (cache / "downloads").mkdir()
    os.replace(archive, cache / "downloads" / VADER_SDIST_NAME)
    assert prepare_rotten_tomatoes(cache, expected_sha256=None)["cached"] is True
    with open(cache / "datasets" / "rt" / "test.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"text": "tampered", "label": 0}\n')
    rebuilt = prepare_rotten_tomatoes(cache, expected_sha256=None)
    assert rebuilt["cached"] is False
    assert rebuilt["splits"]["test"]["sha256"] == first["splits"]["test"]["sha256"]
    other_seed = prepare_rotten_tomatoes(cache, seed=1, expected_sha256=None)
    assert other_seed["cached"] is False
    assert other_seed["splits"]["test"]["sha256"] != first["splits"]["test"]["sha256"]


def test_prepare_rejects_unexpected_archive_hash(tmp_path, archive):
    with pytest.raises(ValueError, match="has sha256 .*; expected 5d7c06e0"):
        prepare_rotten_tomatoes(tmp_path / "cache", archive=archive)


def test_archive_errors(tmp_path):
    with pytest.raises(ValueError, match="archive not found"):
        prepare_rotten_tomatoes(tmp_path / "cache", archive=tmp_path / "missing.tar.gz")
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(ValueError, match="cannot read archive"):
        read_ground_truth(tmp_path / "junk.tar.gz")
    wrong = build_archive(tmp_path / "wrong.tar.gz", member="hutto_ICWSM_2014/other.txt")
    with pytest.raises(ValueError, match="member 'hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt' not found"):
        read_ground_truth(wrong)
    short = build_archive(tmp_path / "short.tar.gz", ["1\tonly two fields"])
    with pytest.raises(ValueError, match="line 1: expected 3 tab-separated fields; got 2"):
        read_ground_truth(short)
    bad_id = build_archive(tmp_path / "bad_id.tar.gz", ["x1\t1.0\ttext"])
    with pytest.raises(ValueError, match="id 'x1' is not an integer"):
        read_ground_truth(bad_id)
    duplicate = build_archive(tmp_path / "dup.tar.gz", ["1\t1.0\ta", "1\t1.0\tb"])
    with pytest.raises(ValueError, match="line 2: duplicate id 1"):
        read_ground_truth(duplicate)
    only_mixed = build_archive(tmp_path / "mixed.tar.gz", ["10400\t1.0\ta"])
    with pytest.raises(ValueError, match="has no polarity rows"):
        read_ground_truth(only_mixed)


def _real_rt_dir() -> Path:
    env = os.environ.get("IOR_CACHE", "").strip()
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "ior"
    return root / "datasets" / "rt"


@pytest.mark.skipif(not (_real_rt_dir() / "manifest.json").is_file(), reason="Rotten Tomatoes not prepared")
def test_real_prepared_rotten_tomatoes_has_expected_counts():
    from ior.data import load_text_dataset

    expected = {"train": (8250, 4128, 4122), "validation": (1031, 516, 515), "test": (1031, 516, 515)}
    cache = _real_rt_dir().parent.parent
    for split, (rows, negative, positive) in expected.items():
        dataset = load_text_dataset("rt", split, cache=cache)
        assert len(dataset) == rows
        assert Counter(dataset.labels) == {0: negative, 1: positive}
        assert dataset.label_names == ("negative", "positive")
    manifest = read_manifest(_real_rt_dir())
    assert manifest["source"]["archive_sha256"] == "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
    assert manifest["dropped_mixed_rows"] == 293
