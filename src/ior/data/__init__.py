"""Data stage of ior: offline datasets, WordNet and the sentence encoder, in one cache.

``ior data prepare`` (:func:`prepare_all`) builds everything once under
``$IOR_CACHE`` (default ``~/.cache/ior``); :func:`load_text_dataset` and
:func:`load_wordnet` then read it without network access.  Heavy libraries
(``datasets``, ``pyarrow``, ``nltk``) are imported only when used.
"""

from ior.data.cache import (
    atomic_write_bytes,
    atomic_write_text,
    cache_dir,
    read_manifest,
    sha256_file,
    write_manifest,
)
from ior.data.labels import encode_labels
from ior.data.loaders import TextDataset, load_text_dataset
from ior.data.minilm import prepare_minilm
from ior.data.prepare import prepare_all
from ior.data.rotten_tomatoes import prepare_rotten_tomatoes
from ior.data.wordnet import lexnames_text, load_wordnet, prepare_wordnet

__all__ = [
    "TextDataset",
    "atomic_write_bytes",
    "atomic_write_text",
    "cache_dir",
    "encode_labels",
    "lexnames_text",
    "load_text_dataset",
    "load_wordnet",
    "prepare_all",
    "prepare_minilm",
    "prepare_rotten_tomatoes",
    "prepare_wordnet",
    "read_manifest",
    "sha256_file",
    "write_manifest",
]
