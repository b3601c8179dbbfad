"""Tests for ior.data.cache: cache location, atomic writes, manifests."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from ior.data import cache as cache_mod
from ior.data.cache import (
    atomic_write_bytes,
    atomic_write_text,
    cache_dir,
    files_match_manifest,
    read_manifest,
    sha256_file,
    write_manifest,
)


def test_cache_dir_explicit_path_is_created(tmp_path):
    target = tmp_path / "a" / "b"
    assert cache_dir(target) == target
    assert target.is_dir()


def test_cache_dir_uses_env_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("IOR_CACHE", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    monkeypatch.delenv("IOR_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "ior"
    assert (tmp_path / "home" / ".cache" / "ior").is_dir()


def test_cache_dir_rejects_bad_input(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        cache_dir(tmp_path / "file")
    with pytest.raises(TypeError, match="path must be a str or os.PathLike; got int"):
        cache_dir(3)


def test_sha256_file_matches_hashlib(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)
    (tmp_path / "blob").write_bytes(data)
    assert sha256_file(tmp_path / "blob") == hashlib.sha256(data).hexdigest()


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    atomic_write_text(target, "héllo\r\nworld")
    atomic_write_text(target, "second")
    atomic_write_bytes(tmp_path / "sub" / "raw.bin", b"\x00\x01")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["out.txt", "raw.bin"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_atomic_write_text_keeps_newlines(tmp_path):
    atomic_write_text(tmp_path / "t.txt", "a\r\nb\n")
    assert (tmp_path / "t.txt").read_bytes() == b"a\r\nb\n"


def test_atomic_write_failure_cleans_up_and_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "keep.txt"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(cache_mod.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_atomic_write_rejects_wrong_types(tmp_path):
    with pytest.raises(TypeError, match="data must be bytes; got str"):
        atomic_write_bytes(tmp_path / "x", "text")
    with pytest.raises(TypeError, match="text must be a str; got bytes"):
        atomic_write_text(tmp_path / "x", b"bytes")
    assert list(tmp_path.iterdir()) == []


def test_manifest_roundtrip_records_every_file(tmp_path):
    (tmp_path / "a.jsonl").write_text("1\n")
    (tmp_path / "b.jsonl").write_text("22\n")
    (tmp_path / ".hidden").write_text("ignored")
    (tmp_path / "subdir").mkdir()
    write_manifest(tmp_path, {"counts": {"a": 1, "b": 1}, "seed": 0})
    manifest = read_manifest(tmp_path)
    assert manifest["counts"] == {"a": 1, "b": 1}
    assert manifest["seed"] == 0
    assert sorted(manifest["files"]) == ["a.jsonl", "b.jsonl"]
    assert manifest["files"]["b.jsonl"]["sha256"] == sha256_file(tmp_path / "b.jsonl")
    assert manifest["files"]["b.jsonl"]["size"] == 3
    assert files_match_manifest(tmp_path, manifest)


def test_files_match_manifest_detects_changes(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    write_manifest(tmp_path, {})
    manifest = read_manifest(tmp_path)
    (tmp_path / "a.txt").write_text("three")
    assert not files_match_manifest(tmp_path, manifest)
    (tmp_path / "a.txt").unlink()
    assert not files_match_manifest(tmp_path, manifest)
    assert not files_match_manifest(tmp_path, None)


def test_manifest_errors(tmp_path):
    assert read_manifest(tmp_path) is None
    with pytest.raises(ValueError, match="reserved keys"):
        write_manifest(tmp_path, {"files": {}})
    with pytest.raises(ValueError, match="'missing.txt' listed for the manifest is missing"):
        write_manifest(tmp_path, {}, files=["missing.txt"])
    with pytest.raises(ValueError, match="does not exist"):
        write_manifest(tmp_path / "nope", {})
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="must hold a JSON object; got list"):
        read_manifest(tmp_path)
