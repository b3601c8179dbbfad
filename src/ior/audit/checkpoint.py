"""Finished attack runs of an audit kept on disk, so an audit stopped part-way resumes where it stopped.

An audit is a sequence of attack runs (each attack on the served model and after each piercing, and
every Q(T) of ``opt``'s search), each of which can take most of an hour on a CPU. :class:`AuditCheckpoint`
stores each run's re-scored outcome (:class:`ior.audit.run.Robustness`) as it finishes; an audit that
is killed (a session that ends, a pre-empted machine) and started again with the same checkpoint
folder loads the finished runs instead of attacking again. An image audit resumed so is the
uninterrupted audit to the bit (attacks are seeded per batch and nothing is cached). A text audit can
differ in a rare tie: the classifier's logits cache starts cold after a restart, and logits computed in
other batches move by ~1e-6 in float32.

A run is looked up by what decides its outcome: the attack and its configuration, the stage, the
temperatures (or Platt map) between the attacked model and its logits, and a digest of the inputs
and labels. The folder also records a fingerprint of the whole audit (the model's weights and the
audit's settings); a folder whose fingerprint differs is emptied rather than reused, so a changed
model or configuration never picks up another audit's runs.

Each run is two files written atomically, ``<digest>.npz`` (the per-example arrays) and then
``<digest>.json`` (the rest, and the mark that the run is complete). Nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
from pathlib import Path

import numpy as np

from ior.data.cache import atomic_write_bytes, atomic_write_text
from ior.models.temperature import AffineMap, temperature_chain

logger = logging.getLogger(__name__)

MANIFEST = "checkpoint.json"
#: Where ``ior audit`` keeps the finished runs of each model's audit inside ``--out`` until the report is written.
CHECKPOINT_DIR = ".partial"
FORMAT = 1


def _json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def _digest_of(value) -> str:
    """A digest of attack inputs or labels: arrays by their bytes, shape and dtype; anything else as JSON."""
    h = hashlib.sha256()
    if isinstance(value, np.ndarray):
        h.update(f"{value.dtype.str}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    else:
        h.update(_json(list(value)).encode())
    return h.hexdigest()


def _step(step) -> object:
    """A temperature (exactly, as float.hex) or a Platt map (its parameters' bytes) of a temperature chain."""
    if isinstance(step, AffineMap):
        return {"affine": _digest_of(step.weight) + _digest_of(step.bias)}
    return float(step).hex()


class AuditCheckpoint:
    """The finished attack runs of one audit, in ``folder``.

    Parameters
    ----------
    folder : path
        Created with the first run saved. Removed if it holds the runs of an audit with another
        ``fingerprint``.
    fingerprint : dict
        What the whole audit depends on beyond each run's own key: the model's weights, the audit's
        settings, the data. JSON-serialisable.
    """

    def __init__(self, folder, fingerprint: dict):
        self.folder = Path(folder)
        self.fingerprint = json.loads(_json(fingerprint))
        self.loaded = 0
        self.loaded_seconds = 0.0  # what the loaded runs took when they ran: the audit's real cost
        # ... in CPU seconds of every process that worked on them (a run saved before they were
        # recorded counts its wall time, which under-counts a sharded run)
        self.loaded_core_seconds = 0.0
        self.saved = 0
        manifest = self.folder / MANIFEST
        if manifest.is_file():
            try:
                held = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                held = None
            if held != {"format": FORMAT, "fingerprint": self.fingerprint}:
                logger.warning("checkpoint %s belongs to another audit (model or settings changed): starting afresh",
                               self.folder)
                shutil.rmtree(self.folder)

    def key(self, *, attack: str, stage: str, hyperparameters: dict, model, inputs, labels) -> str:
        """The digest a run is stored under: everything that decides its outcome."""
        _, chain = temperature_chain(model)
        return hashlib.sha256(_json({
            "attack": attack, "stage": stage, "hyperparameters": hyperparameters,
            "temperatures": [_step(s) for s in chain], "inputs": _digest_of(inputs),
            "labels": _digest_of(np.asarray(labels)), "n": len(inputs)}).encode()).hexdigest()[:32]

    def load(self, key: str):
        """The stored run under ``key`` as a :class:`~ior.audit.run.Robustness`, or None."""
        from ior.audit.run import Robustness

        meta_path, arrays_path = self.folder / f"{key}.json", self.folder / f"{key}.npz"
        if not (meta_path.is_file() and arrays_path.is_file()):
            return None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            data = arrays_path.read_bytes()
            if meta.get("key") != key or meta.get("arrays_sha256") != hashlib.sha256(data).hexdigest():
                logger.warning("checkpoint run %s is damaged: attacking again", meta_path)
                return None
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                robust, logits = arrays["robust"].astype(bool), arrays["adversarial_logits"].astype(np.float32)
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("checkpoint run %s cannot be read (%s): attacking again", meta_path, exc)
            return None
        self.loaded += 1
        self.loaded_seconds += float(meta.get("seconds", 0.0))
        self.loaded_core_seconds += float(meta.get("core_seconds", meta.get("seconds", 0.0)))
        return Robustness(robust=robust, adversarial_logits=logits, claimed_successes=meta["claimed_successes"],
                          disagreements=meta["disagreements"], mean_queries=meta["mean_queries"],
                          records=meta["records"], recheck_failures=meta["recheck_failures"],
                          unclaimed_successes=meta["unclaimed_successes"])

    def save(self, key: str, run, *, seconds: float = 0.0, core_seconds: float | None = None) -> None:
        """Store ``run`` (a :class:`~ior.audit.run.Robustness`, which took ``seconds`` of wall time and
        ``core_seconds`` of CPU time in all the processes that worked on it) under ``key``: arrays
        first, then the mark."""
        manifest = self.folder / MANIFEST
        if not manifest.is_file():  # written with the first run: an audit that fails before any leaves nothing
            atomic_write_text(manifest, _json({"format": FORMAT, "fingerprint": self.fingerprint}))
        buffer = io.BytesIO()
        np.savez(buffer, robust=np.asarray(run.robust, dtype=bool),
                 adversarial_logits=np.asarray(run.adversarial_logits, dtype=np.float32))
        data = buffer.getvalue()
        atomic_write_bytes(self.folder / f"{key}.npz", data)
        meta = {"key": key, "arrays_sha256": hashlib.sha256(data).hexdigest(),
                "claimed_successes": int(run.claimed_successes), "disagreements": int(run.disagreements),
                "mean_queries": float(run.mean_queries), "records": run.records,
                "recheck_failures": int(run.recheck_failures), "unclaimed_successes": int(run.unclaimed_successes),
                "seconds": float(seconds), "core_seconds": float(seconds if core_seconds is None else core_seconds)}
        # Not sorted: the records keep their key order, so a resumed report is written as a fresh one.
        atomic_write_text(self.folder / f"{key}.json", json.dumps(meta, separators=(",", ":"), default=str))
        self.saved += 1

    def remove(self) -> None:
        """Delete the folder: the audit it served is complete and recorded elsewhere."""
        shutil.rmtree(self.folder, ignore_errors=True)
