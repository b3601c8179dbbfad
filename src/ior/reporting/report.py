"""``ior report OUT``: the paper's tables and figures from a sweep's store.

Writes ``OUT/report.md``, ``OUT/report.html`` (self-contained: PNGs inlined), ``OUT/figures/*.png``
and ``OUT/report.json`` (one record per cell group, i.e. per model × serving temperature with the
seeds pooled: its configuration, and mean/std over seeds of clean accuracy, mean confidence and
adversarial accuracy per attack and piercing). A view without data says so instead of failing.
"""

from __future__ import annotations

import json
from pathlib import Path

import ior
from ior.data.cache import atomic_write_text
from ior.experiments.costs import cell_seconds, load_estimate
from ior.experiments.store import STORE_NAME, ResultStore
from ior.reporting import figures, tables
from ior.reporting.claims import claims_table
from ior.reporting.data import ReportData, load_report_data, mean_std
from ior.reporting.document import Figure, Missing, Section, Table, render_html, render_markdown

REPORT_FILES = ("report.md", "report.html", "report.json")


def group_record(group) -> dict:
    """The report.json record of one group of cells (its seeds pooled)."""
    attacks = group.attacks
    piercings = group.piercings()
    return {
        "dataset": group.dataset, "label": group.label, "method": group.method,
        "train_temperature": group.train_temperature, "grad_norm": group.grad_norm,
        "serve_temperature": group.serve_temperature, "config": group.config, "seeds": group.seeds,
        "cells": [a.key for a in group.audits],
        "clean_accuracy": group.clean_accuracy(), "mean_confidence": group.mean_confidence(),
        "ece": group.calibration("ece"), "mce": group.calibration("mce"),
        "adversarial_accuracy": {a: {p: group.adversarial(a, p) for p in piercings} for a in attacks},
        "mean_confidence_adversarial": {a: group.adversarial_confidence(a) for a in attacks},
        "ior_gap_points": {a: group.gap(a) for a in attacks},
    }


def _training_table(data: ReportData) -> list:
    if not data.train_cells:
        return [Missing("Training runs", "the store holds no finished training cell.")]
    rows = []
    for cell in sorted(data.train_cells, key=lambda c: c["label"]):
        metrics = cell["result"]["metrics"]
        final = metrics.get("final", {})
        seconds = cell["result"].get("train_seconds")
        stopped = metrics.get("stopped") or {}
        epochs = len(metrics.get("history") or []) or "–"
        if stopped.get("rule") and not stopped["rule"].startswith("epochs"):
            epochs = f"{epochs} ({stopped['rule']})"
        rows.append([cell["label"], cell["key"], metrics.get("n_train", "–"), epochs,
                     f"{final.get('train_loss', float('nan')):.4f}",
                     "–" if final.get("eval_accuracy") is None else f"{100 * final['eval_accuracy']:.2f}",
                     "–" if seconds is None else f"{seconds:.0f}"])
    return [Table("", ["model", "cell", "train examples", "epochs", "final train loss", "validation acc %",
                       "seconds"], rows,
                  "Epochs trained; when a stopping rule ended training early, the rule it met.")]


def _cost_table(store: ResultStore, estimate: dict | None) -> list:
    cells = store.cells()
    if not cells:
        return [Missing("Cost", "the store holds no finished cell.")]
    header = ["cell", "kind", "key", "wall s", "measured s"] + (["estimated s", "measured / estimated"] if estimate else [])
    rows, totals = [], {}
    for cell in sorted(cells, key=lambda c: (c["kind"] != "train", c["label"])):
        seconds, wall = cell_seconds(cell), cell.get("elapsed_seconds")
        row = [cell["label"], cell["kind"], cell["key"], "–" if wall is None else f"{wall:,.0f}",
               "–" if seconds is None else f"{seconds:,.0f}"]
        expected = (estimate or {}).get(cell["key"])
        if estimate is not None:
            row += ["–" if expected is None else f"{expected:,.0f}",
                    "–" if expected is None or seconds is None else f"{seconds / expected:.2f}"]
        rows.append(row)
        total = totals.setdefault(cell["kind"], [0.0, 0.0, 0])
        if seconds is not None:
            total[0] += seconds
            if expected is not None:
                total[1] += expected
                total[2] += 1
    summary = []
    for kind in ("train", "audit"):
        if kind in totals:
            measured, expected, n = totals[kind]
            summary.append([f"all {kind} cells", kind, "", "", f"{measured / 3600:.2f} h"]
                           + ([f"{expected / 3600:.2f} h ({n} cell{'' if n == 1 else 's'})", f"{measured / expected:.2f}" if expected else "–"]
                              if estimate else []))
    caption = ("Seconds per finished cell, from the store. Wall s: the cell's last attempt, as a time limit "
               "prices it. Measured s: one-core seconds, as the estimate prices them; a training cell's "
               "training time, every attempt's epochs included; an audit cell's core-seconds (CPU time of the "
               "cell and of its shards), with the attack runs a stopped attempt finished. An audit stored "
               "before core-seconds were recorded shows its wall time there, which under-counts an audit "
               "sharded over N processes by up to N times.")
    if estimate is not None:
        matched = sum(1 for c in cells if c["key"] in estimate)
        caption += (f" Estimated seconds are the estimate made before the runs; {matched} of {len(cells)} finished "
                    f"cells are in it ({len(estimate)} estimated); the totals compare only the cells in both.")
    return [Table("", header, rows + summary, caption)]


def _intro(store: ResultStore, data: ReportData, stale: list) -> str:
    sweeps = store.sweeps()
    names = ", ".join(dict.fromkeys(s["name"] for s in sweeps)) or "–"
    n_models = len(data.train_cells)
    n_audits = sum(len(g.audits) for g in data.groups)
    text = (f"Sweep(s) {names}: {n_models} trained models, {n_audits} audits (model × serving temperature). "
            "Numbers are percentages, mean ± std over training seeds (no std with one seed). Generated by "
            f"`ior report` (ior {ior.__version__}) from `{STORE_NAME}`; the figures are in `figures/`.")
    if stale:
        text += (f" **Warning:** {len(stale)} audit(s) ran on other weights than the model their training cell "
                 "records now (trained again, not bit-identical), so they describe an earlier model: "
                 + ", ".join(s["label"] for s in stale)
                 + ". Run the sweep again with --rerun-stale to audit the model it records.")
    return text


def _training_length(data: ReportData, folder: Path) -> list:
    """The training-length table and its figure, or the table's one note saying why there is neither."""
    table = tables.table_training_length(data)
    if all(isinstance(item, Missing) for item in table):
        return table
    return table + figures.training_length(data, folder)


def build_sections(data: ReportData, folder: Path, *, estimate: dict | None = None) -> tuple[list, dict]:
    pairs = tables.word_importance_pairs(data)
    claims, claim_records = claims_table(data, pairs)
    sections = [
        Section("Paper claims", "The headline claims checked against these results.", claims),
        Section("Table 1: clean accuracy and confidence", "", tables.table1(data)),
        Section("Tables 2–3: adversarial accuracy served (−), after cal and after opt", "",
                tables.table_adversarial(data)),
        Section("IOR gap", "Served − min(cal, opt), in accuracy points.", tables.table_gap(data)),
        Section("Input gradients and the worst case", "", tables.table_gradients(data)),
        Section("Table 4: training methods with a high training temperature", "", tables.table4(data)),
        Section("Figure 1: adversarial accuracy against confidence", "", figures.figure1(data, folder)),
        Section("Figure 2: robustness against the training temperature", "", figures.figure2(data, folder)),
        Section("Figure 3: logit range", "", figures.figure3(data, folder)),
        Section("Reliability diagrams", "", figures.reliability(data, folder)),
        Section("Table 20: word importance of a model and its ↑conf twin", "", tables.table20(data, pairs)),
        Section("Training runs", "", _training_table(data) + figures.training_curves(data, folder)),
        Section("Training length: confidence and the implicit illusion (C4)", "", _training_length(data, folder)),
        Section("Cost", "", _cost_table(data.store, estimate)),
    ]
    extras = {"word_importance": pairs, "claims": claim_records}
    return sections, extras


def write_report(out_dir, *, estimate=None) -> dict:
    """Build every view from ``out_dir/runs.sqlite`` and write the report files; returns their paths.

    ``estimate`` is an estimate file made before the sweep (see :func:`load_estimate`): the cost table
    then sets each cell's measured seconds beside its estimate."""
    folder = Path(out_dir)
    estimated = None if estimate is None else load_estimate(estimate)
    store_path = folder / STORE_NAME
    if not store_path.is_file():
        raise ValueError(f"no results store at {str(store_path)!r}: run `ior sweep CONFIG --out {folder}` first")
    with ResultStore(store_path) as store:
        data = load_report_data(store)
        sections, extras = build_sections(data, folder, estimate=estimated)
        stale = store.stale_audits()
        intro = _intro(store, data, stale)
        title = "ior sweep report"
        views = {s.title: ("no data" if all(isinstance(i, Missing) for i in s.items) else "ok") for s in sections}
        document = {
            "ior_version": ior.__version__,
            "store": STORE_NAME,
            "sweeps": [{"name": s["name"], "started_at": s["started_at"], "plan": s["plan"]} for s in store.sweeps()],
            "views": views,
            "cells": [group_record(g) for g in data.groups],
            "word_importance": extras["word_importance"],
            "claims": extras["claims"],
            "stale_audits": stale,
            "cost_seconds": {c["key"]: {"kind": c["kind"], "label": c["label"], "measured": cell_seconds(c),
                                        "wall": c.get("elapsed_seconds"),
                                        "estimated": (estimated or {}).get(c["key"])}
                             for c in data.store.cells()},
            "training": [{"cell": c["key"], "label": c["label"], "config": c["config"],
                          "weights_sha256": c["result"].get("weights_sha256"),
                          "final": c["result"]["metrics"].get("final"),
                          "n_train": c["result"]["metrics"].get("n_train")} for c in data.train_cells],
            "summary": {"groups": len(data.groups), "audits": sum(len(g.audits) for g in data.groups),
                        "train_cells": len(data.train_cells),
                        "mean_clean_accuracy": mean_std(a.result["clean"]["accuracy"]
                                                        for g in data.groups for a in g.audits)},
        }
    markdown = render_markdown(title, intro, sections)
    page = render_html(title, intro, sections, folder)
    paths = {name: folder / name for name in REPORT_FILES}
    atomic_write_text(paths["report.json"], json.dumps(document, indent=2, default=str))
    atomic_write_text(paths["report.md"], markdown)
    atomic_write_text(paths["report.html"], page)
    produced = {folder / item.path for section in sections for item in section.items if isinstance(item, Figure)}
    for stale in (folder / figures.FIGURES_DIR).glob("*.png"):  # from an earlier report of other data
        if stale not in produced:
            stale.unlink()
    paths["figures"] = sorted(produced)
    return paths
