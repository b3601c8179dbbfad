"""WordNet 3.0 for NLTK, prepared offline into ``<cache>/nltk_data/corpora/wordnet``.

Sources, tried in order by :func:`prepare_wordnet`:

(a) a WordNet NLTK can already find (``nltk.data.find("corpora/wordnet")``);
(b) Debian's ``wordnet-base`` and ``wordnet-sense-index`` files in
    ``/usr/share/wordnet``, installed with ``apt-get`` when missing and running
    as root; Debian does not ship ``lexnames``, so it is generated;
(c) ``nltk.download("wordnet")``.

Whatever the source, its regular files are copied (never linked: NLTK's path
checks refuse symlinks; sub-directories are skipped) into the cache, so
:func:`load_wordnet` always reads one known folder.

NLTK (3.9+) only opens corpus files under its registered data roots, so
:func:`load_wordnet` appends ``<cache>/nltk_data`` to ``nltk.data.path`` if it
is not there; it never relies on that list to *find* the corpus.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import subprocess
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

from ior.data.cache import atomic_write_text, cache_dir, files_match_manifest, read_manifest, write_manifest

__all__ = ["LEXNAMES", "lexnames_text", "load_wordnet", "prepare_wordnet", "wordnet_dir"]

logger = logging.getLogger(__name__)

#: The 45 lexicographer file names of WordNet 3.0, in file-number order (lexnames(5WN)).
LEXNAMES: tuple[str, ...] = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
    "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)
#: Syntactic category number of each lexname prefix, as in lexnames(5WN).
LEXNAME_CATEGORIES = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
DEBIAN_PACKAGES = ("wordnet-base", "wordnet-sense-index")
_POS = ("noun", "verb", "adj", "adv")
#: Files the NLTK reader needs; ``lexnames`` is generated when the source lacks it.
REQUIRED_FILES: tuple[str, ...] = (
    *(f"index.{pos}" for pos in _POS), *(f"data.{pos}" for pos in _POS),
    *(f"{pos}.exc" for pos in _POS), "index.sense",
)
INSTALL_HINT = (
    "install WordNet 3.0 with `apt-get install wordnet-base wordnet-sense-index` "
    "(Debian/Ubuntu) or `python -m nltk.downloader wordnet`, then run `ior data prepare`"
)
_APT_TIMEOUT_S = 1800


def lexnames_text() -> str:
    """The ``lexnames`` file: 45 lines ``NN<TAB>name<TAB>category``, ``\\n``-terminated.

    Examples
    --------
    >>> lexnames_text().splitlines()[3]
    '03\\tnoun.Tops\\t1'
    """
    return "".join(
        f"{number:02d}\t{name}\t{LEXNAME_CATEGORIES[name.split('.')[0]]}\n"
        for number, name in enumerate(LEXNAMES)
    )


def wordnet_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """Where the prepared corpus lives: ``<cache>/nltk_data/corpora/wordnet``."""
    return cache_dir(cache) / "nltk_data" / "corpora" / "wordnet"


def _authorize(data_root: Path) -> None:
    # NLTK's path sandbox refuses files outside nltk.data.path; registering the
    # cache's nltk_data root is the documented way to allow a custom location.
    import nltk.data

    root = str(data_root)
    if root not in [str(entry) for entry in nltk.data.path]:
        nltk.data.path.append(root)


def _reader_class() -> type:
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class WordNet30Reader(WordNetCorpusReader):
        """``WordNetCorpusReader`` that needs no globally installed ``wordnet`` corpus.

        NLTK's ``__init__`` builds ``map30``, a sense map from NLTK's default
        ``wordnet`` corpus (found through ``nltk.data.path``) to this one, used
        only by the multilingual (OMW) functions.  For a WordNet 3.0 corpus that
        map is the identity, so it is skipped: construction then reads only this
        folder and is faster.
        """

        def map_wn(self, version: str = "wordnet") -> Any:
            if self.get_version() == "3.0":
                return None
            return super().map_wn(version)

    return WordNet30Reader


def _reader(corpus: Path) -> Any:
    _authorize(corpus.parent.parent)
    with warnings.catch_warnings():
        # omw_reader=None is deliberate: ior only needs English WordNet.
        warnings.filterwarnings("ignore", message="The multilingual functions")
        return _reader_class()(str(corpus), None)


def load_wordnet(cache: str | os.PathLike[str] | None = None) -> Any:
    """An NLTK ``WordNetCorpusReader`` over the prepared corpus.

    The reader is a subclass that skips NLTK's cross-version sense map (see
    ``WordNet30Reader``), so it reads only the prepared folder.  Building it
    reads the index files (about a second); keep it.

    Raises
    ------
    RuntimeError
        The corpus is not prepared (run ``ior data prepare``) or unreadable.

    Examples
    --------
    >>> wn = load_wordnet()  # doctest: +SKIP
    >>> sorted({lemma.name() for s in wn.synsets("good") for lemma in s.lemmas()})[:3]  # doctest: +SKIP
    ['adept', 'beneficial', 'commodity']
    """
    corpus = wordnet_dir(cache)
    missing = [name for name in (*REQUIRED_FILES, "lexnames") if not (corpus / name).is_file()]
    if missing:
        raise RuntimeError(
            f"WordNet is not prepared in {str(corpus)!r} (missing {missing[0]}); run `ior data prepare`"
        )
    try:
        return _reader(corpus)
    except (OSError, ValueError, AssertionError, LookupError) as exc:
        raise RuntimeError(f"cannot read WordNet in {str(corpus)!r} ({exc}); run `ior data prepare --force`") from None


def _copy_directory(source: Path, staging: Path) -> int:
    count = 0
    for entry in sorted(source.iterdir()):
        # is_file() follows links: a symlinked file is copied as a regular file.
        if entry.is_file() and entry.name != "manifest.json":
            shutil.copyfile(entry, staging / entry.name)
            count += 1
    return count


def _copy_zip(archive: Path, entry: str, staging: Path) -> int:
    prefix = entry.rstrip("/") + "/" if entry else "wordnet/"
    count = 0
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            if member.is_dir() or not member.filename.startswith(prefix):
                continue
            name = member.filename[len(prefix):]
            if not name or "/" in name or "\\" in name or name in (".", ".."):
                continue
            (staging / name).write_bytes(bundle.read(member))
            count += 1
    return count


def _from_nltk_data(staging: Path, target: Path) -> str | None:
    import nltk.data

    try:
        pointer = nltk.data.find("corpora/wordnet")
    except (LookupError, OSError, ValueError):
        return None
    if hasattr(pointer, "zipfile"):
        archive = Path(pointer.zipfile.filename)
        return f"nltk_data:{archive}" if _copy_zip(archive, pointer.entry, staging) else None
    source = Path(pointer.path)
    if source.resolve() == target.resolve():
        return None
    return f"nltk_data:{source}" if _copy_directory(source, staging) else None


def _apt_install(packages: tuple[str, ...]) -> bool:
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def run(*args: str) -> bool:
        logger.info("running apt-get %s", " ".join(args))
        try:
            done = subprocess.run(["apt-get", *args], env=env, capture_output=True, text=True,
                                  timeout=_APT_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.warning("apt-get %s failed: %s", args[0], exc)
            return False
        if done.returncode != 0:
            logger.warning("apt-get %s failed: %s", args[0], (done.stderr or "").strip().splitlines()[-1:])
        return done.returncode == 0

    install = ("install", "-y", "--no-install-recommends", *packages)
    return run(*install) or (run("update") and run(*install))


def _from_debian(staging: Path, debian_dir: Path, allow_install: bool) -> str | None:
    def complete() -> bool:
        return all((debian_dir / name).is_file() for name in REQUIRED_FILES)

    if not complete() and allow_install:
        _apt_install(DEBIAN_PACKAGES)
    if not complete():
        return None
    _copy_directory(debian_dir, staging)
    return f"debian:{debian_dir}"


def _from_download(staging: Path, data_root: Path) -> str | None:
    import nltk

    _authorize(data_root)
    download_root = Path(tempfile.mkdtemp(prefix=".download-", dir=data_root))
    try:
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                nltk.download("wordnet", download_dir=str(download_root), quiet=True, raise_on_error=False)
        except Exception as exc:  # noqa: BLE001 - any downloader failure means "try the next source"
            logger.debug("nltk.download failed: %s", exc)
        logger.debug("nltk.download output: %s", log.getvalue().strip())
        folder, archive = download_root / "corpora" / "wordnet", download_root / "corpora" / "wordnet.zip"
        if folder.is_dir() and _copy_directory(folder, staging):
            return "nltk.download"
        if archive.is_file() and _copy_zip(archive, "wordnet/", staging):
            return "nltk.download"
        return None
    finally:
        shutil.rmtree(download_root, ignore_errors=True)


def prepare_wordnet(
    cache: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    search_nltk_data: bool = True,
    debian_dir: str | os.PathLike[str] = DEBIAN_WORDNET_DIR,
    allow_install: bool = True,
    allow_download: bool = True,
) -> Path:
    """Copy WordNet 3.0 into ``<cache>/nltk_data/corpora/wordnet`` and write its manifest.

    Parameters
    ----------
    cache : str or os.PathLike, optional
        Cache root (see :func:`ior.data.cache.cache_dir`).
    force : bool, default False
        Rebuild even when the manifest says the corpus is in place.
    search_nltk_data : bool, default True
        Try source (a), a WordNet NLTK already finds.
    debian_dir : str or os.PathLike, default "/usr/share/wordnet"
        Where source (b) looks for the Debian files.
    allow_install : bool, default True
        Let source (b) run ``apt-get install`` (only as root).
    allow_download : bool, default True
        Try source (c), ``nltk.download``.

    Returns
    -------
    pathlib.Path
        The prepared corpus directory.

    Raises
    ------
    RuntimeError
        No source worked; the message says what to install.
    """
    target = wordnet_dir(cache)
    try:
        manifest = read_manifest(target) if target.is_dir() else None
    except ValueError:
        manifest = None
    if not force and files_match_manifest(target, manifest) and manifest.get("resource") == "wordnet":
        logger.info("WordNet already prepared in %s", target)
        return target

    data_root = target.parent.parent
    target.parent.mkdir(parents=True, exist_ok=True)
    _authorize(data_root)
    staging = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=target.parent))
    try:
        attempts = []
        if search_nltk_data:
            attempts.append(lambda: _from_nltk_data(staging, target))
        attempts.append(lambda: _from_debian(staging, Path(debian_dir), allow_install))
        if allow_download:
            attempts.append(lambda: _from_download(staging, data_root))
        source = None
        for attempt in attempts:
            _clear(staging)
            source = attempt()
            if source is None:
                continue
            problem = _problem(staging)
            if problem is None:
                break
            logger.warning("skipping WordNet from %s: %s", source, problem)
            source = None
        if source is None:
            raise RuntimeError(f"WordNet 3.0 not found; {INSTALL_HINT}")
        generated = not (staging / "lexnames").is_file()
        if generated:
            atomic_write_text(staging / "lexnames", lexnames_text())
        n_synsets_good = len(_reader(staging).synsets("good"))
        if n_synsets_good == 0:
            raise RuntimeError(f"WordNet from {source} has no synsets for 'good'; {INSTALL_HINT}")
        write_manifest(staging, {
            "resource": "wordnet",
            "version": "3.0",
            "source": source,
            "lexnames": "generated (lexnames(5WN) order)" if generated else "from source",
            "counts": {"files": sum(1 for p in staging.iterdir() if p.is_file()),
                       "synsets_good": n_synsets_good},
        })
        os.chmod(staging, 0o755)  # mkdtemp made it private; the corpus is meant to be shared
        _swap_in(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("WordNet prepared in %s from %s", target, source)
    return target


def _problem(corpus: Path) -> str | None:
    """Why ``corpus`` is not a usable WordNet 3.0 copy, or None."""
    missing = [name for name in REQUIRED_FILES if not (corpus / name).is_file()]
    if missing:
        return f"missing {', '.join(missing)}"
    with open(corpus / "data.adj", encoding="utf-8", errors="replace") as handle:
        # The licence header at the top of every data file names the version.
        header = "".join(handle.readline() for _ in range(40))
    if "WordNet 3.0 Copyright" not in header:
        return "data.adj does not say 'WordNet 3.0'"
    return None


def _clear(directory: Path) -> None:
    for entry in directory.iterdir():
        if entry.is_file() or entry.is_symlink():
            entry.unlink()


def _swap_in(staging: Path, target: Path) -> None:
    # Move the old corpus aside, rename the new one into place, then delete the old.
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=".wordnet-old-", dir=target.parent))
        os.replace(target, old / "wordnet")
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
