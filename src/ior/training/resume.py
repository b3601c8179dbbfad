"""A training run's state at the end of its last finished epoch, so a stopped run continues from there.

Adversarial training on a CPU takes most of an hour per model; a run killed in its fifth epoch (a
session that ends, a pre-empted machine) should not start again from the first. At the end of each
epoch :class:`EpochCheckpoint` writes everything the next epoch depends on: the weights
(safetensors), the optimizer and learning-rate schedule, every random state the loop draws from
(numpy's shuffling generator, torch's global generator that dropout and random starts use, an
augmentation generator, Python's ``random``) and the history so far. A run started again with the
same configuration and data restores it and gives the weights an uninterrupted run gives, to the bit
on the same machine with the same number of torch threads (another CPU or library build rounds
differently from the first step: :func:`ior.training.trainer.machine`).

Each epoch is a folder ``epoch-NNNN`` renamed into place once complete; the newest complete one is
used, older ones are removed. A checkpoint of another configuration or other data is ignored (and
replaced at the next epoch's end). Nothing is unpickled: the optimizer file is read with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import uuid
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_model, save_model

from ior.data.cache import atomic_write_text

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"


def _python_random_state(state) -> tuple:
    version, internal, gauss = state
    return version, tuple(internal), gauss


class EpochCheckpoint:
    """The end-of-epoch state of one training run, in ``folder``.

    Parameters
    ----------
    folder : path
        Created at the first epoch's end.
    fingerprint : dict
        What decides the run (its configuration, the training data); JSON-serialisable. A stored
        state with another fingerprint is not restored.
    """

    def __init__(self, folder, fingerprint: dict):
        self.folder = Path(folder)
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))

    def _epochs(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("epoch-*") if p.is_dir() and (p / STATE_FILE).is_file())

    def restore(self, model, optimizer, schedule, *, rng: np.random.Generator,
                generator: torch.Generator | None = None) -> dict | None:
        """Load the newest finished epoch into the given objects and return its state (``epoch``,
        ``step``, ``history``, ``elapsed_seconds``, ``grad_norm``); None when there is none to use."""
        for folder in reversed(self._epochs()):
            try:
                state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
                if state.get("fingerprint") != self.fingerprint:
                    logger.warning("ignoring %s: it belongs to a run with another configuration or data", folder)
                    return None
                tensors = torch.load(folder / "optimizer.pt", weights_only=True)
                load_model(model, str(folder / "model.safetensors"), strict=True)
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                logger.warning("cannot resume from %s (%s): trying an older epoch", folder, exc)
                continue
            optimizer.load_state_dict(tensors["optimizer"])
            schedule.load_state_dict(tensors["schedule"])
            torch.set_rng_state(tensors["torch_rng"])
            if generator is not None:
                generator.set_state(tensors["generator"])
            rng.bit_generator.state = state["numpy_rng"]
            random.setstate(_python_random_state(state["python_random"]))
            return {k: state[k] for k in ("epoch", "step", "history", "elapsed_seconds", "grad_norm")}
        return None

    def save(self, epoch: int, model, optimizer, schedule, *, rng: np.random.Generator,
             generator: torch.Generator | None = None, step: int, history: list, elapsed_seconds: float,
             grad_norm) -> None:
        """Write the state after ``epoch`` (1-based) and remove the older epochs'."""
        final = self.folder / f"epoch-{epoch:04d}"
        staging = self.folder / f".epoch-{epoch:04d}-{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        try:
            save_model(model, str(staging / "model.safetensors"))
            torch.save({"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                        "torch_rng": torch.get_rng_state(),
                        "generator": generator.get_state() if generator is not None else None},
                       staging / "optimizer.pt")
            atomic_write_text(staging / STATE_FILE, json.dumps({
                "fingerprint": self.fingerprint, "epoch": epoch, "step": step, "history": history,
                "elapsed_seconds": elapsed_seconds, "grad_norm": grad_norm,
                "numpy_rng": rng.bit_generator.state, "python_random": random.getstate()}, default=float))
            for path in staging.iterdir():
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
            if final.exists():
                shutil.rmtree(final)
            os.rename(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        for older in self._epochs():
            if older != final:
                shutil.rmtree(older, ignore_errors=True)

    def remove(self) -> None:
        """Delete the folder: the run finished and its model is saved."""
        shutil.rmtree(self.folder, ignore_errors=True)
