"""Audit reports: ``report.json`` (a contract other tools read), ``report.md`` and ``report.html`` (for people).

Both are rendered completely in memory and only then written, each atomically, so a failed audit
never leaves a half-written report.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import ior
from ior.audit.run import ModelAudit
from ior.data.cache import atomic_write_text


def software_versions() -> dict:
    import importlib.metadata

    import numpy
    import scipy
    import torch
    import transformers

    versions = {"ior": ior.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
                "numpy": numpy.__version__, "scipy": scipy.__version__, "python": platform.python_version()}
    try:
        versions["torchattacks"] = importlib.metadata.version("torchattacks")
    except importlib.metadata.PackageNotFoundError:
        pass
    return versions


def model_record(audit: ModelAudit) -> dict:
    """One entry of ``models`` in report.json; accuracies are fractions in [0, 1]."""
    return {
        "name": audit.name,
        "serve_temperature": audit.serve_temperature,
        "clean_accuracy": audit.clean["accuracy"],
        "mean_confidence": audit.clean["mean_confidence"],
        "n_examples": audit.clean["n_examples"],
        "calibration": audit.calibration,
        "flags": audit.flags,
        "verdict": _overall(audit),
        "attacks": audit.attacks,
        "opt": audit.opt,
        "worst_case": audit.worst_case,
        "gradients": audit.gradients,
        "elapsed_seconds": audit.elapsed_seconds,
    }


def _overall(audit: ModelAudit) -> str:
    verdicts = {a["verdict"] for a in audit.attacks.values()}
    return "illusion of robustness" if "illusion of robustness" in verdicts else "genuine"


def build_report(audits: list[ModelAudit], *, provenance: dict, elapsed_seconds: float) -> dict:
    return {"models": [model_record(a) for a in audits], "elapsed_seconds": elapsed_seconds,
            "provenance": dict(provenance, versions=software_versions())}


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def extra_piercings(report: dict) -> list:
    """The piercings beyond ``cal`` and ``opt`` (``platt``, ``transfer``) any attack of ``report`` ran."""
    ran = {p for m in report["models"] for a in m["attacks"].values() for p in ("platt", "transfer") if p in a}
    return [p for p in ("platt", "transfer") if p in ran]


def verdict_caption(extra: list) -> str:
    """What the verdict table's columns mean (the Markdown and the HTML report say the same)."""
    more = "".join(f", after `{p}`" for p in extra)
    best = ", ".join(["cal", "opt", *extra])
    text = (f"Adversarial accuracy (%) as served (−), after `cal`, after `opt`{more}; the IOR gap is served − "
            f"min({best}) in points with a paired-bootstrap 95% interval.")
    if "platt" in extra:
        text += " `platt` attacks the served logits through a fitted affine map (matrix scaling)."
    if "transfer" in extra:
        text += (" `transfer` crafts the examples on a reference model and counts them on the served one; "
                 "every other column attacks the served model itself.")
    return text


def render_markdown(report: dict) -> str:
    extra = extra_piercings(report)
    lines = ["# ior audit", ""]
    lines += [verdict_caption(extra), ""]
    lines += ["| model | T_d | attack | clean | conf clean | conf adv | − | cal | opt | "
              + "".join(f"{p} | " for p in extra) + "gap [95% CI] | verdict |",
              "|---|---|---|---|---|---|---|---|---|" + "---|" * len(extra) + "---|---|"]
    for m in report["models"]:
        for attack, a in m["attacks"].items():
            lo, hi = a["gap_ci"]
            lines.append(
                f"| {m['name']} | {m['serve_temperature']:g} | {attack} | {_pct(m['clean_accuracy'])} | "
                f"{_pct(m['mean_confidence'])} | {_pct(a['mean_confidence_adversarial'])} | {_pct(a['served'])} | "
                f"{_pct(a['cal'])} | {_pct(a['opt'])} | " + "".join(f"{_pct(a.get(p))} | " for p in extra)
                + f"{a['gap']:+.1f} [{lo:+.1f}, {hi:+.1f}] | **{a['verdict']}** |")
    worst = [m for m in report["models"] if m.get("worst_case")]
    if worst:
        lines += ["", "## Worst case per example (AutoAttack's rule)", "",
                  "An example counts as robust only if it survives every attack and every piercing.", "",
                  "| model | T_d | attacks × piercings | robust % |", "|---|---|---|---|"]
        for m in worst:
            w = m["worst_case"]
            lines.append(f"| {m['name']} | {m['serve_temperature']:g} | {' '.join(w['attacks'])} × "
                         f"{' '.join(w['piercings'])} | {_pct(w['accuracy'])} |")
    graded = [m for m in report["models"] if m.get("gradients")]
    if graded:
        lines += ["", "## Input gradients", "",
                  "‖∇ CE‖₂ with respect to the input (pixels; token embeddings for text) on the test inputs, "
                  "as served and after each piercing: the share that is exactly 0 in float32 is what a "
                  "gradient attack cannot move.", "",
                  "| model | T_d | stage | T attack | exactly 0 % | median | p90 |", "|---|---|---|---|---|---|---|"]
        for m in graded:
            for stage, g in m["gradients"].items():
                if g is None:
                    continue
                lines.append(f"| {m['name']} | {m['serve_temperature']:g} | {stage} | "
                             f"{'W z + b' if g['attack_temperature'] is None else format(g['attack_temperature'], '.3g')} | "
                             f"{100 * g['zero_fraction']:.1f} | {g['median']:.3g} | {g['p90']:.3g} |")
    lines += ["", "## Calibration", "",
              "| model | T_d | ECE % | MCE % | conf. variance ζ | T_cal | T_opt | flags |", "|---|---|---|---|---|---|---|---|"]
    for m in report["models"]:
        c = m["calibration"]
        t_cal = c.get("cal_temperature")
        t_opt = (m.get("opt") or {}).get("temperature")
        flags = ", ".join(f["code"] for f in m["flags"]) or "none"
        lines.append(f"| {m['name']} | {m['serve_temperature']:g} | {100 * c['ece']:.2f} | {100 * c['mce']:.2f} | "
                     f"{c['confidence_variance']:.3g} | {_num(t_cal)} | {_num(t_opt)} | {flags} |")
    notes = [(m["name"], f) for m in report["models"] for f in m["flags"]]
    if notes:
        lines += ["", "## Flags", ""] + [f"- **{name}** `{f['code']}`: {f['message']}" for name, f in notes]
    opt_rows = [(m["name"], m["opt"]) for m in report["models"] if m.get("opt")]
    if opt_rows:
        lines += ["", "## `opt` search", ""]
        for name, opt in opt_rows:
            points = ", ".join(f"Q({e['temperature']:.3g})={100 * e['adversarial_accuracy']:.1f}"
                               for e in opt["evaluations"])
            stopped = {"floor": "stopped at Q = 0", "plateau": "stopped on a plateau",
                       "converged": "converged", "maxiter": "ran to --opt-maxiter"}.get(opt.get("stopped"), "")
            lines.append(f"- **{name}** ({opt['attack']}, {opt['method']}, {len(opt['evaluations'])} attack runs"
                         f"{', ' + stopped if stopped else ''}): {points}")
    prov = report["provenance"]
    lines += ["", "## Provenance", "", "```json", json.dumps(prov, indent=2, sort_keys=True, default=str), "```",
              "", f"Elapsed: {report['elapsed_seconds']:.0f} s", ""]
    return "\n".join(lines)


def _num(value) -> str:
    return "–" if value is None else f"{value:.3g}"


def write_report(report: dict, out_dir, *, examples=None) -> tuple[Path, Path]:
    """Write report.json, report.md, report.html and examples.jsonl (empty when none) into ``out_dir``."""
    from ior.audit.html import render_html

    out_dir = Path(out_dir)
    text_json = json.dumps(report, indent=2, default=str)
    text_md = render_markdown(report)
    text_html = render_html(report, examples or [])
    text_examples = "".join(json.dumps(e, default=str) + "\n" for e in examples or [])
    out_dir.mkdir(parents=True, exist_ok=True)
    # Always written (possibly empty) so a re-run never leaves an older run's examples behind.
    atomic_write_text(out_dir / "examples.jsonl", text_examples)
    atomic_write_text(out_dir / "report.md", text_md)
    atomic_write_text(out_dir / "report.html", text_html)
    atomic_write_text(out_dir / "report.json", text_json)
    return out_dir / "report.json", out_dir / "report.md"
