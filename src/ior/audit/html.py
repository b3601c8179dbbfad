"""``report.html``: the audit as one self-contained page a reviewer opens in a browser.

What ``report.md`` says, plus what Markdown cannot show: a reliability diagram per served model, the
Q(T) curve that ``opt`` searched, and the adversarial examples with the words the attack changed
highlighted. Charts are inline SVG and styles inline, so the file needs nothing beside it.
"""

from __future__ import annotations

import difflib
import html
import json
import math
from collections import defaultdict

from ior.audit.report import extra_piercings, verdict_caption
from ior.reporting.document import BASE_STYLE, column_classes, html_cell, html_inline

#: Adversarial examples shown per model × attack × stage (all of them are in examples.jsonl).
EXAMPLES_SHOWN = 25

#: What the audit page adds to the shared style sheet: verdict badges, cards of charts, examples.
_STYLE = BASE_STYLE + """
h1 { margin-bottom: 0.2em; }
.sub { color: #555; margin-top: 0; }
.verdict { display: inline-block; padding: 0.15em 0.6em; border-radius: 0.8em; font-weight: 600; }
.illusion { background: #fde2e1; color: #9b1c1c; }
.genuine { background: #def7ec; color: #03543f; }
.cards { display: flex; flex-wrap: wrap; gap: 1.2em; align-items: flex-start; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 0.9em; flex: 1 1 480px; max-width: 540px; }
.charts { display: flex; flex-wrap: wrap; gap: 0.6em; }
.card h3 { margin: 0.2em 0 0.4em; font-size: 1em; }
.flag { margin: 0.2em 0; font-size: 0.88em; }
.example { border-bottom: 1px solid #eee; padding: 0.35em 0; font-size: 0.92em; }
.example .meta { color: #666; font-size: 0.85em; }
del { background: #fde2e1; color: #9b1c1c; text-decoration: line-through; }
ins { background: #def7ec; color: #03543f; text-decoration: none; font-weight: 600; }
details { margin: 0.3em 0; }
summary { cursor: pointer; }
"""


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _verdict(text: str) -> str:
    kind = "illusion" if text == "illusion of robustness" else "genuine"
    return f'<span class="verdict {kind}">{html.escape(text)}</span>'


def word_diff(original: str, adversarial: str) -> tuple[str, str]:
    """The two texts as HTML, the words the attack removed in ``<del>``, those it put in ``<ins>``."""
    a, b = original.split(), adversarial.split()
    left, right = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        old, new = html.escape(" ".join(a[i1:i2])), html.escape(" ".join(b[j1:j2]))
        if op == "equal":
            left.append(old)
            right.append(new)
        else:
            if old:
                left.append(f"<del>{old}</del>")
            if new:
                right.append(f"<ins>{new}</ins>")
    return " ".join(left), " ".join(right)


def reliability_svg(bins: list, *, width=250, height=230) -> str:
    """Accuracy per confidence bin (bars) against the diagonal; the gap to each bin's mean confidence in red."""
    pad_l, pad_b, pad_t, pad_r = 34, 28, 8, 8
    w, h = width - pad_l - pad_r, height - pad_b - pad_t

    def x(v):
        return pad_l + v * w

    def y(v):
        return pad_t + (1 - v) * h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="reliability diagram">',
             f'<rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="#fafafa" stroke="#bbb"/>']
    for b in bins:
        if not b["n"]:
            continue
        x0, x1 = x(b["lo"]) + 1, x(b["hi"]) - 1
        acc, conf = b["accuracy"], b["confidence"]
        tip = f"({b['lo']:.2f}, {b['hi']:.2f}]: n={b['n']}, accuracy {100 * acc:.1f}%, confidence {100 * conf:.1f}%"
        parts.append(f'<rect x="{x0:.1f}" y="{y(acc):.1f}" width="{x1 - x0:.1f}" height="{y(0) - y(acc):.1f}" '
                     f'fill="#3b82f6"><title>{tip}</title></rect>')
        top, bottom = max(acc, conf), min(acc, conf)
        parts.append(f'<rect x="{x0:.1f}" y="{y(top):.1f}" width="{x1 - x0:.1f}" height="{y(bottom) - y(top):.1f}" '
                     f'fill="#ef4444" fill-opacity="0.35"><title>{tip}</title></rect>')
    parts.append(f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#555" stroke-dasharray="4 3"/>')
    for v in (0, 0.5, 1):
        parts.append(f'<text x="{x(v):.1f}" y="{height - 12}" font-size="10" text-anchor="middle">{v:g}</text>')
        parts.append(f'<text x="{pad_l - 4}" y="{y(v) + 3:.1f}" font-size="10" text-anchor="end">{v:g}</text>')
    parts.append(f'<text x="{pad_l + w / 2}" y="{height - 1}" font-size="10" text-anchor="middle">confidence</text>')
    parts.append(f'<text x="10" y="{pad_t + h / 2}" font-size="10" text-anchor="middle" '
                 f'transform="rotate(-90 10 {pad_t + h / 2})">accuracy</text>')
    parts.append("</svg>")
    return "".join(parts)


def opt_svg(opt: dict, *, width=250, height=230) -> str:
    """Q(T) as ``opt`` evaluated it: adversarial accuracy on the validation subset against log10 T,
    points numbered in evaluation order, the chosen T ringed."""
    points = [(math.log10(e["temperature"]), e["adversarial_accuracy"]) for e in opt["evaluations"]]
    lo, hi = min(p[0] for p in points), max(p[0] for p in points)
    lo, hi = (lo - 1, hi + 1) if hi - lo < 1e-9 else (lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    pad_l, pad_b, pad_t, pad_r = 34, 28, 8, 8
    w, h = width - pad_l - pad_r, height - pad_b - pad_t

    def x(v):
        return pad_l + (v - lo) / (hi - lo) * w

    def y(v):
        return pad_t + (1 - v) * h

    chosen = math.log10(opt["temperature"])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="Q(T) searched by opt">',
             f'<rect x="{pad_l}" y="{pad_t}" width="{w}" height="{h}" fill="#fafafa" stroke="#bbb"/>']
    ordered = sorted(points)
    path = " ".join(f"{'M' if i == 0 else 'L'}{x(px):.1f},{y(py):.1f}" for i, (px, py) in enumerate(ordered))
    parts.append(f'<path d="{path}" fill="none" stroke="#94a3b8"/>')
    for i, (px, py) in enumerate(points, start=1):
        parts.append(f'<circle cx="{x(px):.1f}" cy="{y(py):.1f}" r="3" fill="#1d4ed8"><title>#{i}: T = '
                     f'{10 ** px:.3g}, Q = {100 * py:.1f}%</title></circle>')
    best = min(points, key=lambda p: p[1])
    parts.append(f'<circle cx="{x(chosen):.1f}" cy="{y(best[1]):.1f}" r="7" fill="none" stroke="#dc2626" '
                 f'stroke-width="2"><title>chosen T = {opt["temperature"]:.3g}</title></circle>')
    stride = max(1, math.ceil((hi - lo) / 5))
    for v in range(math.ceil(lo / stride) * stride, math.floor(hi) + 1, stride):
        if lo <= v <= hi:
            parts.append(f'<text x="{x(v):.1f}" y="{height - 12}" font-size="10" text-anchor="middle">1e{v:g}</text>')
    for v in (0, 0.5, 1):
        parts.append(f'<text x="{pad_l - 4}" y="{y(v) + 3:.1f}" font-size="10" text-anchor="end">{v:g}</text>')
    parts.append(f'<text x="{pad_l + w / 2}" y="{height - 1}" font-size="10" text-anchor="middle">attack '
                 f'temperature T (log scale)</text>')
    parts.append(f'<text x="10" y="{pad_t + h / 2}" font-size="10" text-anchor="middle" '
                 f'transform="rotate(-90 10 {pad_t + h / 2})">Q(T)</text>')
    parts.append("</svg>")
    return "".join(parts)


def _verdict_table(report: dict) -> str:
    extra = extra_piercings(report)
    head = ["model", "T_d", "attack", "clean %", "conf clean", "conf adv", "− %", "cal %", "opt %",
            *[f"{p} %" for p in extra], "gap [95% CI]", "worst case %", "verdict"]
    rows = []
    for m in report["models"]:
        for attack, a in m["attacks"].items():
            lo, hi = a["gap_ci"]
            cells = [m["name"], f"{m['serve_temperature']:g}", attack, _pct(m["clean_accuracy"]),
                     _pct(m["mean_confidence"]), _pct(a["mean_confidence_adversarial"]), _pct(a["served"]),
                     _pct(a["cal"]), _pct(a["opt"]), *[_pct(a.get(p)) for p in extra],
                     f"{a['gap']:+.1f} [{lo:+.1f}, {hi:+.1f}]",
                     _pct(a.get("worst_case"))]
            rows.append((cells, a["verdict"]))
    classes = column_classes([cells for cells, _ in rows]) + ["text"]
    header = "".join(html_cell(h, "th", classes[c]) for c, h in enumerate(head))
    body = "".join("<tr>" + "".join(html_cell(v, align=classes[c]) for c, v in enumerate(cells))
                   + f'<td class="text">{_verdict(verdict)}</td></tr>' for cells, verdict in rows)
    return f'<div class="table-wrap"><table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>'


def _model_card(m: dict) -> str:
    c = m["calibration"]
    body = [f"<h3>{html.escape(m['name'])} (T_d = {m['serve_temperature']:g})</h3>"]
    opt = m.get("opt")
    charts = [reliability_svg(c["reliability"])] if c.get("reliability") else []
    if opt and opt.get("evaluations"):
        charts.append(opt_svg(opt))
    body.append('<div class="charts">' + "".join(charts) + "</div>")
    body.append(f'<div class="caption">ECE {100 * c["ece"]:.2f}%, MCE {100 * c["mce"]:.2f}%, confidence variance '
                f'ζ = {c["confidence_variance"]:.3g}; clean accuracy {_pct(m["clean_accuracy"])}%, mean '
                f'confidence {_pct(m["mean_confidence"])}%'
                + (f'; T_cal = {c["cal_temperature"]:.3g}' if c.get("cal_temperature") is not None else "")
                + "</div>")
    for flag in m["flags"]:
        body.append(f'<div class="flag"><code>{html.escape(flag["code"])}</code> {html.escape(flag["message"])}</div>')
    if opt and opt.get("evaluations"):
        stopped = {"floor": "stopped at Q = 0", "plateau": "stopped on a plateau", "converged": "converged",
                   "maxiter": "ran to its iteration limit"}.get(opt.get("stopped"), "")
        body.append(f'<div class="caption"><code>opt</code> with {html.escape(opt["attack"])}: '
                    f'{len(opt["evaluations"])} attack runs{", " + stopped if stopped else ""}; chosen T = '
                    f'{opt["temperature"]:.3g}, Q = {100 * opt["validation_adversarial_accuracy"]:.1f}% '
                    f'on the validation subset.</div>')
    return '<div class="card">' + "".join(body) + "</div>"


def _example_html(e: dict) -> str:
    meta = (f'#{e["index"]} · label {e["label"]} → {e.get("rescored_prediction")} · '
            f'{e.get("words_changed", "?")} word(s) changed · {e.get("queries", "?")} queries')
    if "original_text" in e:
        before, after = word_diff(e["original_text"], e["adversarial_text"])
        return (f'<div class="example"><div class="meta">{html.escape(meta)}</div>'
                f"<div>{before}</div><div>{after}</div></div>")
    fields = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                       for k, v in e.items() if k in ("linf", "original_prediction", "adversarial_prediction"))
    return f'<div class="example"><div class="meta">#{e["index"]} · label {e["label"]} · {html.escape(fields)}</div></div>'


def _examples_section(examples: list) -> str:
    groups = defaultdict(list)
    for e in examples:
        groups[(e.get("model"), e.get("attack"), e.get("stage"))].append(e)
    out = []
    for (model, attack, stage), items in groups.items():
        is_first = not out
        fooled = [e for e in items if e.get("outcome") == "succeeded" and not e.get("robust")]
        if not fooled:
            continue
        shown = fooled[:EXAMPLES_SHOWN]
        more = f" (first {len(shown)}; all in examples.jsonl)" if len(fooled) > len(shown) else ""
        label = {"served": "served (−)"}.get(stage, stage)
        out.append(f"<details{' open' if is_first else ''}><summary><strong>{html.escape(str(model))}</strong> · {html.escape(str(attack))} · "
                   f"{html.escape(str(label))}: {len(fooled)} of {len(items)} examples fooled{more}</summary>"
                   + "".join(_example_html(e) for e in shown) + "</details>")
    if not out:
        if not examples:
            return "<p>No examples were recorded with this report (examples.jsonl is empty or absent).</p>"
        return "<p>No attack succeeded: no adversarial example to show.</p>"
    return "\n".join(out)


def render_html(report: dict, examples: list) -> str:
    models = report["models"]
    verdicts = {m["verdict"] for m in models}
    overall = "illusion of robustness" if "illusion of robustness" in verdicts else "genuine"
    prov = report["provenance"]
    source = (prov.get("model") or {}).get("path", "")
    data = (prov.get("test") or {}).get("name", "")
    body = [
        "<h1>ior audit</h1>",
        f'<p class="sub">{html.escape(str(source))} on {html.escape(str(data))} · {len(models)} served model(s) · '
        f'{report["elapsed_seconds"]:.0f} s · overall: {_verdict(overall)}</p>',
        "<h2>Verdict</h2>",
        f'<p class="caption">{html_inline(verdict_caption(extra_piercings(report)))} An illusion when the gap '
        "exceeds the threshold and the interval excludes 0. Worst case: robust only if an example survives every "
        "piercing of that attack.</p>",
        _verdict_table(report),
        "<h2>Calibration and <code>opt</code></h2>",
        '<p class="caption">Reliability diagrams of the clean test set as served: bars are the accuracy per '
        "confidence bin, red the gap to the bin's mean confidence, dashed the perfectly calibrated diagonal. "
        "Q(T) is the adversarial accuracy <code>opt</code> measured at each attack temperature; the ring marks the "
        "temperature it chose.</p>",
        '<div class="cards">' + "".join(_model_card(m) for m in models) + "</div>",
        "<h2>Adversarial examples</h2>",
        '<p class="caption">Examples the attack fooled, re-scored on the served model: the original above, with the '
        "words the attack removed struck through, the adversarial text below, with the words it put in "
        "highlighted.</p>",
        _examples_section(examples),
        "<h2>Provenance</h2>",
        "<details><summary>configuration, data, model and software versions</summary><pre>"
        + html.escape(json.dumps(prov, indent=2, sort_keys=True, default=str)) + "</pre></details>",
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ior audit</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
