"""Tests for ior.data.loaders / labels / readers: every source format and every input error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ior.data import TextDataset, encode_labels, load_text_dataset
from ior.data.cache import write_manifest

ROWS = [("a fine film", "positive"), ("dull, slow", "negative"), ("", "negative"), ("   ", "positive")]


def write_csv(path: Path, rows=ROWS, header=("text", "label")) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


# --- formats ---------------------------------------------------------------------------------------


def test_csv_with_string_labels_keeps_empty_texts(tmp_path):
    ds = load_text_dataset(write_csv(tmp_path / "reviews.csv"))
    assert ds.texts == ("a fine film", "dull, slow", "", "   ")
    assert ds.label_names == ("negative", "positive")  # sorted unique
    assert ds.labels == (1, 0, 0, 1)
    assert ds.name == "reviews" and ds.split == "test"


def test_csv_integer_labels_and_given_label_names(tmp_path):
    path = write_csv(tmp_path / "d.csv", [("x", "0"), ("y", "1")])
    ds = load_text_dataset(path, label_names=["neg", "pos"])
    assert ds.labels == (0, 1) and ds.label_names == ("neg", "pos")
    assert load_text_dataset(path).label_names == ("0", "1")


def test_tsv_treats_quotes_as_text(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text('sentence\tlabel\r\n"quoted" start\t1\r\nit\'s ""odd""\t0\r\n', encoding="utf-8")
    ds = load_text_dataset(path, text_column="sentence")
    assert ds.texts == ('"quoted" start', 'it\'s ""odd""')
    assert ds.labels == (1, 0)


def test_jsonl_with_pairs_and_custom_columns(tmp_path):
    path = write_jsonl(tmp_path / "nli.jsonl", [
        {"premise": "a", "hypothesis": "b", "gold": "entailment"},
        {"premise": "c", "hypothesis": "d", "gold": "contradiction"},
    ])
    ds = load_text_dataset(path, text_column="premise", text_pair_column="hypothesis", label_column="gold",
                           label_names=["entailment", "neutral", "contradiction"])
    assert ds.text_pairs == ("b", "d")
    assert ds.labels == (0, 2) and ds.num_labels == 3


def test_json_array_file(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"text": "a", "label": 1}, {"text": "b", "label": 0}]))
    assert load_text_dataset(path).labels == (1, 0)


def test_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["a", "b", ""], "label": [1, 0, 1]}), tmp_path / "d.parquet")
    ds = load_text_dataset(tmp_path / "d.parquet")
    assert ds.texts == ("a", "b", "") and ds.labels == (1, 0, 1)


def test_directory_of_split_files(tmp_path):
    write_csv(tmp_path / "train.csv")
    write_jsonl(tmp_path / "test.jsonl", [{"text": "t", "label": 1}])
    assert len(load_text_dataset(tmp_path, "train")) == 4
    test = load_text_dataset(tmp_path, "test")
    assert test.texts == ("t",) and test.split == "test" and test.name == tmp_path.name
    with pytest.raises(ValueError, match=r"no file for split 'validation' in .*found: test.jsonl, train.csv"):
        load_text_dataset(tmp_path, "validation")
    write_jsonl(tmp_path / "train.jsonl", [{"text": "t", "label": 1}])
    with pytest.raises(ValueError, match="several files for split 'train'"):
        load_text_dataset(tmp_path, "train")


def _hf_dataset(texts, labels):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["neg", "pos"])})
    return datasets.Dataset.from_dict({"text": texts, "label": labels}, features=features)


def test_saved_hf_dataset(tmp_path):
    _hf_dataset(["a", "b", ""], [1, 0, 1]).save_to_disk(str(tmp_path / "saved"))
    ds = load_text_dataset(tmp_path / "saved", "anything")
    assert ds.texts == ("a", "b", "") and ds.labels == (1, 0, 1)
    assert ds.label_names == ("neg", "pos")  # from the ClassLabel feature


def test_saved_hf_dataset_dict(tmp_path):
    import datasets

    datasets.DatasetDict({
        "train": _hf_dataset(["a", "b"], [1, 0]),
        "test": _hf_dataset(["c"], [0]),
    }).save_to_disk(str(tmp_path / "dd"))
    assert load_text_dataset(tmp_path / "dd", "train").labels == (1, 0)
    test = load_text_dataset(tmp_path / "dd", "test")
    assert test.texts == ("c",) and test.label_names == ("neg", "pos")
    with pytest.raises(ValueError, match="split 'validation' not found in .*; available splits: train, test"):
        load_text_dataset(tmp_path / "dd", "validation")
    with pytest.raises(ValueError, match="column 'sentence' not found in .*; available columns: text, label"):
        load_text_dataset(tmp_path / "dd", "train", text_column="sentence")


def test_prepared_rt_from_a_cache(tmp_path):
    rt = tmp_path / "datasets" / "rt"
    rt.mkdir(parents=True)
    for split in ("train", "validation", "test"):
        write_jsonl(rt / f"{split}.jsonl", [{"text": f"{split} ok", "label": 1}, {"text": "", "label": 0}])
    write_manifest(rt, {"dataset": "rotten_tomatoes"})
    ds = load_text_dataset("rotten_tomatoes", "validation", cache=tmp_path)
    assert ds.name == "rotten_tomatoes" and ds.label_names == ("negative", "positive")
    assert ds.texts == ("validation ok", "") and ds.manifest_sha256 is not None
    with pytest.raises(ValueError, match="split 'dev' not available for rotten_tomatoes"):
        load_text_dataset("rt", "dev", cache=tmp_path)
    with open(rt / "test.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"text": "extra", "label": 0}\n')
    with pytest.raises(RuntimeError, match="changed since it was prepared; run `ior data prepare`"):
        load_text_dataset("rt", "test", cache=tmp_path)


def test_rt_not_prepared(tmp_path):
    with pytest.raises(RuntimeError, match="Rotten Tomatoes is not prepared in .*; run `ior data prepare`"):
        load_text_dataset("rt", cache=tmp_path)


# --- errors ------------------------------------------------------------------------------------------


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ValueError, match="dataset not found: .*nope.csv"):
        load_text_dataset(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="empty file: .*empty.csv"):
        load_text_dataset(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("text,label\n")
    with pytest.raises(ValueError, match="no rows in .*header.csv"):
        load_text_dataset(tmp_path / "header.csv")
    (tmp_path / "blank.jsonl").write_text("\n\n")
    with pytest.raises(ValueError, match="no rows in .*blank.jsonl"):
        load_text_dataset(tmp_path / "blank.jsonl")
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(ValueError, match=r"unsupported file type '.txt'.*supported: .csv, .tsv"):
        load_text_dataset(tmp_path / "data.txt")


def test_malformed_files(tmp_path):
    (tmp_path / "ragged.csv").write_text("text,label\na,1\nb,0,extra\n")
    with pytest.raises(ValueError, match="line 3 of .*ragged.csv.* has 3 fields; the header has 2"):
        load_text_dataset(tmp_path / "ragged.csv")
    (tmp_path / "bad.jsonl").write_text('{"text": "a", "label": 1}\n{oops\n')
    with pytest.raises(ValueError, match="line 2 of .*bad.jsonl.* is not valid JSON"):
        load_text_dataset(tmp_path / "bad.jsonl")
    (tmp_path / "latin1.csv").write_bytes("text,label\ncaf\xe9,1\n".encode("latin-1"))
    with pytest.raises(ValueError, match="is not valid UTF-8: byte 0xe9 on line 2"):
        load_text_dataset(tmp_path / "latin1.csv")
    assert load_text_dataset(tmp_path / "latin1.csv", encoding="latin-1").texts == ("café",)
    (tmp_path / "utf16.jsonl").write_text('{"text": "naïve", "label": 0}\n', encoding="utf-16")
    assert load_text_dataset(tmp_path / "utf16.jsonl", encoding="utf-16").texts == ("naïve",)
    with pytest.raises(ValueError, match="is not valid cp1252"):  # 0x81 is undefined in cp1252
        (tmp_path / "bad1252.csv").write_bytes(b"text,label\nx\x81,1\n")
        load_text_dataset(tmp_path / "bad1252.csv", encoding="cp1252")


def test_missing_column_lists_available(tmp_path):
    path = write_csv(tmp_path / "d.csv", header=("sentence", "label"))
    with pytest.raises(ValueError, match="column 'text' not found in .*; available columns: sentence, label"):
        load_text_dataset(path)
    with pytest.raises(ValueError, match="column 'y' not found"):
        load_text_dataset(path, text_column="sentence", label_column="y")


def test_unknown_label(tmp_path):
    rows = [("a", "positive")] * 17 + [("b", "x")]
    path = write_csv(tmp_path / "d.csv", rows)
    with pytest.raises(ValueError, match=r"unknown label 'x' in column 'label' \(row 17\); "
                                         r"known labels: 'negative', 'positive'"):
        load_text_dataset(path, label_names=["negative", "positive"])


def test_non_integer_and_out_of_range_labels(tmp_path):
    path = write_jsonl(tmp_path / "f.jsonl", [{"text": "a", "label": 1}, {"text": "b", "label": 1.5}])
    with pytest.raises(ValueError, match=r"non-integer label 1.5 in column 'label' \(row 1\)"):
        load_text_dataset(path)
    path = write_jsonl(tmp_path / "r.jsonl", [{"text": "a", "label": 0}, {"text": "b", "label": 5}])
    with pytest.raises(ValueError, match=r"label 5 out of range in column 'label' \(row 1\); expected 0..1"):
        load_text_dataset(path, label_names=["neg", "pos"])
    path = write_jsonl(tmp_path / "n.jsonl", [{"text": "a", "label": -1}])
    with pytest.raises(ValueError, match=r"label -1 out of range .*expected >= 0"):
        load_text_dataset(path)
    path = write_jsonl(tmp_path / "m.jsonl", [{"text": "a", "label": 0}, {"text": "b"}])
    with pytest.raises(ValueError, match=r"missing label in column 'label' \(row 1\)"):
        load_text_dataset(path)
    path = write_jsonl(tmp_path / "b.jsonl", [{"text": "a", "label": True}])
    with pytest.raises(ValueError, match="non-integer label True"):
        load_text_dataset(path)


def test_missing_text_reads_as_empty_with_warning(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"text": None, "label": 0}, {"text": "b", "label": 1}])
    with pytest.warns(UserWarning, match="1 missing values in column 'text'"):
        ds = load_text_dataset(path)
    assert ds.texts == ("", "b")


def test_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="spec must be a str or os.PathLike; got int"):
        load_text_dataset(3)
    with pytest.raises(ValueError, match="split must be a non-empty str"):
        load_text_dataset("rt", "")
    with pytest.raises(ValueError, match="hub spec must be 'hf:NAME' or 'hf:NAME:CONFIG'; got 'hf:'"):
        load_text_dataset("hf:")
    with pytest.raises(ValueError, match="hub spec must be"):
        load_text_dataset("hf:a:b:c")
    with pytest.raises(ValueError, match="dataset not found: 'imdb' is not 'rt', 'trec', 'r8', 'hf:NAME"):
        load_text_dataset("imdb")


def test_encode_labels_mixed_int_strings():
    assert encode_labels(["1", 0, "0"]) == ((1, 0, 0), ("0", "1"))
    assert encode_labels([2.0, 0]) == ((2, 0), ("0", "1", "2"))
    assert encode_labels(np.array([1, 0])) == ((1, 0), ("0", "1"))


# --- TextDataset -------------------------------------------------------------------------------------


def _toy():
    return TextDataset("toy", "test", ("a", "b", "c"), (0, 1, 0), ("neg", "pos"))


def test_text_dataset_basics():
    ds = _toy()
    assert len(ds) == 3 and ds.num_labels == 2
    assert ds.head(2).texts == ("a", "b") and len(ds.head(10)) == 3 and len(ds.head(0)) == 0
    sub = ds.subset(np.array([2, 0, 2]))
    assert sub.texts == ("c", "a", "c") and sub.labels == (0, 0, 0) and sub.label_names == ds.label_names
    assert "n=3" in repr(ds) and "'a'" not in repr(ds)
    with pytest.raises(AttributeError):
        ds.texts = ("z",)


def test_text_dataset_accepts_lists_and_stores_tuples():
    ds = TextDataset("toy", "test", ["a"], [np.int64(1)], ["neg", "pos"])
    assert ds.texts == ("a",) and ds.labels == (1,) and type(ds.labels[0]) is int


def test_fingerprint_is_stable_and_content_sensitive():
    ds = _toy()
    assert ds.fingerprint() == _toy().fingerprint()
    assert ds.fingerprint() != TextDataset("toy", "test", ("a", "b", "c"), (0, 1, 1), ("neg", "pos")).fingerprint()
    assert ds.fingerprint() != TextDataset("toy", "test", ("ab", "", "c"), (0, 1, 0), ("neg", "pos")).fingerprint()
    assert ds.fingerprint() == ds.subset([0, 1, 2]).fingerprint()


def test_text_dataset_validation():
    with pytest.raises(ValueError, match="texts and labels differ in length: 2 != 1"):
        TextDataset("t", "s", ("a", "b"), (0,), ("x",))
    with pytest.raises(ValueError, match="label 2 at index 0 is out of range; expected 0..1"):
        TextDataset("t", "s", ("a",), (2,), ("x", "y"))
    with pytest.raises(TypeError, match="labels must be ints; got bool"):
        TextDataset("t", "s", ("a",), (True,), ("x", "y"))
    with pytest.raises(TypeError, match="texts must contain str; got int at index 0"):
        TextDataset("t", "s", (1,), (0,), ("x",))
    with pytest.raises(ValueError, match="label_names must be unique"):
        TextDataset("t", "s", ("a",), (0,), ("x", "x"))
    with pytest.raises(ValueError, match="texts and text_pairs differ in length"):
        TextDataset("t", "s", ("a",), (0,), ("x",), text_pairs=("p", "q"))
    with pytest.raises(ValueError, match="index 3 at position 0 is out of range for 3 rows"):
        _toy().subset([3])
    with pytest.raises(TypeError, match="indices must be ints; got float"):
        _toy().subset([0.0])
    with pytest.raises(ValueError, match="n must be >= 0; got -1"):
        _toy().head(-1)
