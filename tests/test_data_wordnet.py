"""Tests for ior.data.wordnet: lexnames, copying a Debian-style folder, loading with NLTK."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ior.data.cache import read_manifest
from ior.data.wordnet import (
    LEXNAMES,
    REQUIRED_FILES,
    _copy_zip,
    lexnames_text,
    load_wordnet,
    prepare_wordnet,
    wordnet_dir,
)

DEBIAN = Path("/usr/share/wordnet")
needs_debian = pytest.mark.skipif(
    not all((DEBIAN / name).is_file() for name in REQUIRED_FILES),
    reason="Debian wordnet-base / wordnet-sense-index not installed",
)
OFFLINE = {"search_nltk_data": False, "allow_install": False, "allow_download": False}


def test_lexnames_has_45_lines_with_correct_categories():
    lines = lexnames_text().splitlines()
    assert len(lines) == 45 == len(LEXNAMES)
    assert lexnames_text().endswith("\n")
    categories = {"noun": "1", "verb": "2", "adj": "3", "adv": "4"}
    for number, line in enumerate(lines):
        index, name, category = line.split("\t")
        assert index == f"{number:02d}"
        assert category == categories[name.split(".")[0]]
    assert lines[0] == "00\tadj.all\t3"
    assert lines[3] == "03\tnoun.Tops\t1"
    assert lines[29] == "29\tverb.body\t2"
    assert lines[44] == "44\tadj.ppl\t3"
    assert [line.split("\t")[1] for line in lines][2] == "adv.all"


def test_load_wordnet_when_not_prepared(tmp_path):
    with pytest.raises(RuntimeError, match="WordNet is not prepared in .*; run `ior data prepare`"):
        load_wordnet(tmp_path)


def test_prepare_fails_with_install_hint(tmp_path):
    (tmp_path / "debian").mkdir()
    with pytest.raises(RuntimeError, match="apt-get install wordnet-base wordnet-sense-index"):
        prepare_wordnet(tmp_path / "cache", debian_dir=tmp_path / "debian", **OFFLINE)
    assert not wordnet_dir(tmp_path / "cache").exists()
    assert list((tmp_path / "cache" / "nltk_data" / "corpora").iterdir()) == []


def test_copy_zip_extracts_only_flat_corpus_files(tmp_path):
    archive = tmp_path / "wordnet.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("wordnet/", "")
        bundle.writestr("wordnet/index.noun", "n")
        bundle.writestr("wordnet/nested/x", "skip")
        bundle.writestr("other/data.noun", "skip")
    out = tmp_path / "out"
    out.mkdir()
    assert _copy_zip(archive, "wordnet/", out) == 1
    assert [p.name for p in out.iterdir()] == ["index.noun"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A Debian-like source made of symlinks plus a sub-directory, prepared into a fresh cache."""
    if not all((DEBIAN / name).is_file() for name in REQUIRED_FILES):
        pytest.skip("Debian wordnet-base / wordnet-sense-index not installed")
    root = tmp_path_factory.mktemp("wordnet")
    source = root / "debian"
    source.mkdir()
    for entry in DEBIAN.iterdir():
        if entry.is_file():
            (source / entry.name).symlink_to(entry)
    (source / "bin").mkdir()
    (source / "bin" / "tool").write_text("not corpus data")
    cache = root / "cache"
    path = prepare_wordnet(cache, debian_dir=source, **OFFLINE)
    return cache, path


@needs_debian
def test_prepared_folder_has_regular_files_and_manifest(prepared):
    cache, path = prepared
    assert path == wordnet_dir(cache)
    entries = list(path.iterdir())
    assert all(entry.is_file() and not entry.is_symlink() for entry in entries)
    assert "bin" not in {entry.name for entry in entries}
    assert (path / "lexnames").read_text() == lexnames_text()
    manifest = read_manifest(path)
    assert manifest["resource"] == "wordnet"
    assert manifest["source"].startswith("debian:")
    assert manifest["counts"]["synsets_good"] == 27
    assert set(REQUIRED_FILES) | {"lexnames"} <= set(manifest["files"])
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]


@needs_debian
def test_second_prepare_is_a_no_op(prepared):
    cache, path = prepared
    before = (path / "data.noun").stat().st_mtime_ns
    assert prepare_wordnet(cache, debian_dir="/nonexistent", **OFFLINE) == path
    assert (path / "data.noun").stat().st_mtime_ns == before


@needs_debian
def test_load_wordnet_gives_synonyms_for_good(prepared):
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    cache, _ = prepared
    wordnet = load_wordnet(cache)
    assert isinstance(wordnet, WordNetCorpusReader)
    synsets = wordnet.synsets("good")
    assert len(synsets) == 27
    lemmas = {lemma.name() for synset in synsets for lemma in synset.lemmas()}
    assert {"beneficial", "well", "dependable"} <= lemmas
    assert wordnet.synsets("dog")[0].lexname() == "noun.animal"


def test_source_that_is_not_wordnet_30_is_rejected(tmp_path):
    source = tmp_path / "debian"
    source.mkdir()
    for name in REQUIRED_FILES:
        (source / name).write_text("  1 WordNet 3.1 Copyright 2011 by Princeton University.\n")
    with pytest.raises(RuntimeError, match="WordNet 3.0 not found"):
        prepare_wordnet(tmp_path / "cache", debian_dir=source, **OFFLINE)
