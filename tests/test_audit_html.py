"""report.html: the verdict, the charts and the adversarial examples with their changed words."""

import html.parser
import shutil
import subprocess

import pytest

from ior.audit.html import EXAMPLES_SHOWN, opt_svg, reliability_svg, render_html, word_diff
from ior.calibration.metrics import reliability_bins


def report(verdict="illusion of robustness"):
    bins = reliability_bins([[0.95, 0.05], [0.7, 0.3], [0.2, 0.8], [0.99, 0.01]], [0, 1, 1, 0], n_bins=10)
    attack = {"served": 0.8, "cal": 0.1, "opt": 0.05, "gap": 75.0, "gap_ci": [60.0, 90.0], "verdict": verdict,
              "mean_confidence_adversarial": 0.99, "worst_case": 0.05}
    model = {"name": "up-conf", "serve_temperature": 0.01, "clean_accuracy": 0.9, "mean_confidence": 1.0,
             "calibration": {"ece": 0.1, "mce": 0.2, "confidence_variance": 0.0, "cal_temperature": 80.0,
                             "reliability": bins},
             "flags": [{"code": "saturated-confidence", "message": "100% of inputs have confidence <exactly> 1.0"}],
             "verdict": verdict, "attacks": {"deepwordbug": attack},
             "opt": {"attack": "deepwordbug", "temperature": 100.0, "validation_adversarial_accuracy": 0.05,
                     "stopped": "plateau", "evaluations": [{"temperature": t, "adversarial_accuracy": q} for t, q in
                                                           ((1, 0.8), (10, 0.3), (1e3, 0.05), (1e6, 0.1), (100, 0.05))]}}
    return {"models": [model], "elapsed_seconds": 12.0,
            "provenance": {"model": {"path": "runs/m"}, "test": {"name": "rt"}}}


def example(i, stage, original, adversarial, outcome="succeeded"):
    return {"index": i, "label": 1, "rescored_prediction": 0, "words_changed": 1, "queries": 9, "model": "up-conf",
            "attack": "deepwordbug", "stage": stage, "outcome": outcome, "robust": outcome != "succeeded",
            "original_text": original, "adversarial_text": adversarial}


class Collect(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text, self.stack = [], [], []

    VOID = {"meta", "br", "img", "hr", "link", "input"}

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])  # well nested
        self.stack.pop()

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(page):
    parser = Collect()
    parser.feed(page)
    return parser


def test_word_diff_marks_what_the_attack_removed_and_put_in():
    before, after = word_diff("a <dull> film & more", "a <dulI> film & more")
    assert before == "a <del>&lt;dull&gt;</del> film &amp; more"
    assert after == "a <ins>&lt;dulI&gt;</ins> film &amp; more"
    assert word_diff("same text", "same text") == ("same text", "same text")


def test_the_page_shows_the_verdict_the_charts_and_the_fooled_examples():
    examples = [example(0, "served", "a dull film", "a dulI film"),
                example(1, "served", "a fine cast", "a fine cast", outcome="failed"),
                example(0, "cal", "a dull film", "a dull flim")]
    page = render_html(report(), examples)
    parsed = parse(page)
    text = " ".join(parsed.text)
    classes = [a.get("class", "") for t, a in parsed.tags]
    assert "verdict illusion" in classes and "illusion of robustness" in text
    assert "+75.0 [+60.0, +90.0]" in text
    assert sum(t == "svg" for t, _ in parsed.tags) == 2  # reliability diagram and Q(T)
    assert "<del>dull</del>" in page and "<ins>dulI</ins>" in page and "<ins>flim</ins>" in page
    assert "1 of 2 examples fooled" in text and "a fine cast" not in text  # the failed attack is not shown
    assert "&lt;exactly&gt;" in page  # flag messages are escaped
    assert "stopped on a plateau" in text and "5 attack runs" in text
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_a_genuine_report_and_many_examples():
    examples = [example(i, "served", f"word{i} here", f"w0rd{i} here") for i in range(EXAMPLES_SHOWN + 5)]
    page = render_html(report("genuine"), examples)
    text = " ".join(parse(page).text)
    assert "verdict genuine" in page and "verdict illusion" not in page
    assert f"{EXAMPLES_SHOWN + 5} of {EXAMPLES_SHOWN + 5} examples fooled (first {EXAMPLES_SHOWN}" in text
    assert page.count('class="example"') == EXAMPLES_SHOWN
    failed = [example(0, "served", "a fine cast", "a fine cast", outcome="failed")]
    assert "No attack succeeded" in render_html(report("genuine"), failed)
    # A report written without its examples does not claim that no attack succeeded.
    empty = render_html(report("genuine"), [])
    assert "No examples were recorded" in empty and "No attack succeeded" not in empty


def test_charts_place_points_inside_their_frame():
    bins = reliability_bins([[0.55, 0.45], [0.95, 0.05]], [0, 1], n_bins=4)
    svg = reliability_svg(bins)
    assert svg.count("<rect") == 1 + 2 * 2  # frame, then accuracy and gap per non-empty bin
    q = opt_svg(report()["models"][0]["opt"])
    assert q.count("<circle") == 5 + 1  # five evaluations and the ring on the chosen T


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)")
def test_chromium_renders_the_page(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(report(), [example(0, "served", "a dull film", "a dulI film")]))
    shot = tmp_path / "shot.png"
    run = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,1400",
                          f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 20_000, run.stderr[-2000:]
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert "illusion of robustness" in dom and "<ins>dulI</ins>" in dom
