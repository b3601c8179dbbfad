"""The paper's claims C1–C9, checked against the store with the numbers, whichever way they come out.

Numbered as in the paper's summary (``paper-notes.md``); DeepWordBug unless a claim says otherwise, and
each bar is written beside its verdict:

- C1 ↑conf: the baseline served at T_d < 1 looks ≥ 2× as robust as at T_d = 1 (paper: 20.1 → 65.6);
- C2 ↓conf: served at T_d > 1 it looks more robust (> 3 points), ``cal`` leaves it so (> 3 points above
  T_d = 1), and ``opt`` brings it within 3 points of T_d = 1 (paper: 20.1 → 32.2, ``opt`` 22.0);
- C3 ``cal`` pierces ↑conf: after ``cal`` within 3 points of T_d = 1 (paper: 65.6 → 21.6);
- C4 grad-norm models (baseline*, pgd*, ddi with its normalised step) reach ≥ 99.5% mean clean
  confidence, a served − ``cal`` gap > 10 points, and after ``cal`` are within 5 points of the baseline;
- C5 adversarial training without normalisation (pgd, freelb, ascc, dg-aug, ddi without it): IOR gap < 3;
- C6 training at T = 100–200 (grad-norm models) raises post-``cal`` accuracy over T = 1 on ≥ 3/4 of the
  paper's four attacks, for a clean drop ≤ 2 points (with fewer attacks measured: undecided until the
  raised ones reach 3, or the unmeasured ones could no longer make them);
- C7 transfer from the baseline pierces an illusion only partly: below served by > 3 points and above
  ``cal`` by > 3 points, on models with an illusion to pierce (paper: ddi pwws 61.1 → 50.0, cal 22.9);
- C8 Platt scaling is unstable over seeds (std ≥ 5 points) or deepens the illusion (above served by > 3
  points) (paper: ↓conf dg 32 → 75 ± 17);
- C9 ↑conf decorrelates first-iteration word-importance ranks from T_d = 1: mean Spearman ρ ≤ 0.5
  (paper: 0.28 ± 0.24).

Every difference is paired by seed (the same trained model, or the same seed of two models) and shown
as mean ± std over seeds with a 95% t-interval when there are ≥ 2 seeds.
"""

from __future__ import annotations

import math

from scipy import stats as scipy_stats

from ior.reporting.data import ReportData, float32_steps
from ior.reporting.document import Missing, Table
from ior.reporting.tables import ordered_by_length
from ior.reporting.image_claims import CAPTION as IMAGE_CAPTION
from ior.reporting.image_claims import check_image_claims

ATTACK = "deepwordbug"
PAPER_ATTACKS = ("bae", "textfooler", "pwws", "deepwordbug")  # C6 counts raised attacks of these
C6_BAR = 3  # raised on at least 3 of the 4
TRANSFER_ATTACKS = ("deepwordbug", "pwws", "textfooler", "bae")


def _groups(groups, method, grad_norm, temperature=1.0, serve=lambda t: t == 1.0, train=None):
    found = [g for g in groups if (g.method, g.grad_norm, g.train_temperature) == (method, grad_norm, temperature)
             and serve(g.serve_temperature)
             and all(g.config["train"].get(k, v) == v for k, v in (train or {}).items())]
    return sorted(found, key=lambda g: g.serve_temperature)


def _find(groups, method, grad_norm, temperature=1.0, **kw):
    return next(iter(_groups(groups, method, grad_norm, temperature, **kw)), None)


def _p(value) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def _sd(stat) -> str:
    if stat["mean"] is None:
        return "–"
    return f"{100 * stat['mean']:.2f}" + ("" if stat["std"] is None else f" ± {100 * stat['std']:.2f}")


def paired(a, b, getter_a, getter_b=None, *, by="train") -> dict:
    """``getter_a(audit of a) − getter_b(audit of b)`` in points, paired by trained model (``by="train"``:
    two serving temperatures of one model) or by seed (two models), over the pairs both have.

    Returns ``{"mean", "std", "n", "ci"}``; ``ci`` is the 95% t-interval of the mean over pairs (None
    for fewer than 2).
    """
    getter_b = getter_b or getter_a

    def pair_key(audit):
        return audit.train_key if by == "train" else audit.config["seed"]

    theirs = {pair_key(x): x for x in b.audits}
    diffs = []
    for audit in a.audits:
        other = theirs.get(pair_key(audit))
        if other is None:
            continue
        u, v = getter_a(audit), getter_b(other)
        if u is not None and v is not None:
            # Accuracies are counts over n examples: rounding drops the float noise of 100 * (u - v), so a
            # difference of exactly 2 points is 2, not 2.0000000000000018, when it meets a claim's bar.
            diffs.append(round(100 * (u - v), 9))
    n = len(diffs)
    if not n:
        return {"mean": None, "std": None, "n": 0, "ci": None}
    mean = sum(diffs) / n
    std = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1)) if n > 1 else None
    ci = None
    if n > 1:
        half = scipy_stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)
        ci = (mean - half, mean + half)
    return {"mean": mean, "std": std, "n": n, "ci": ci}


def _d(stat) -> str:
    """``+45.50 ± 2.10 [95% CI +40.2, +50.8], 3 seeds`` (points)."""
    if stat["mean"] is None:
        return "–"
    text = f"{stat['mean']:+.2f}"
    if stat["std"] is not None:
        text += f" ± {stat['std']:.2f}"
    if stat["ci"] is not None:
        text += f" [95% CI {stat['ci'][0]:+.1f}, {stat['ci'][1]:+.1f}]"
    return text + f", {stat['n']} seed{'s' if stat['n'] != 1 else ''}"


def _acc(attack, piercing):
    return lambda audit: audit.accuracy(attack, piercing)


def check_claims(data: ReportData, word_importance: list | None = None) -> list:
    """One record per claim × model × dataset: ``holds`` is True, False or None (no data)."""
    records = []
    for dataset in data.datasets:
        groups = data.by_dataset(dataset)
        if data.modality(dataset) == "image":
            records.extend(check_image_claims(dataset, groups))
            continue
        found = (_explicit(dataset, groups) + _implicit(dataset, groups, data) + _genuine(dataset, groups)
                 + _high_temperature(dataset, groups) + _transfer(dataset, groups) + _platt(dataset, groups)
                 + _word_importance(dataset, word_importance or []))
        records.extend(sorted(found, key=lambda r: int(r["claim"][1])))  # C1 ... C9 (stable within a claim)
    return records


def _explicit(dataset, groups) -> list:
    """C1–C3: the baseline served at T_d ≠ 1 against itself at T_d = 1."""
    base = _find(groups, "standard", False)
    up = _groups(groups, "standard", False, serve=lambda t: t < 1)
    down = _groups(groups, "standard", False, serve=lambda t: t > 1)
    if base is None:
        return [_record(dataset, "C1–C3", "baseline", None, "no standard model served at T_d = 1 in the store")]
    records = []
    base_acc = base.adversarial(ATTACK, "none")
    if not up:
        records.append(_record(dataset, "C1, C3", "baseline ↑conf", None, "no T_d < 1 audit in the store"))
    for g in up:
        name = f"baseline ↑conf T_d={g.serve_temperature:g}"
        served = g.adversarial(ATTACK, "none")
        rise = paired(g, base, _acc(ATTACK, "none"))
        ratio = None if not base_acc["mean"] else served["mean"] / base_acc["mean"] if served["mean"] is not None else None
        records.append(_record(dataset, "C1", name, None if ratio is None else ratio >= 2,
                               f"{ATTACK} served {_sd(served)} vs {_sd(base_acc)} at T_d = 1: "
                               f"{'–' if ratio is None else f'{ratio:.2f}'}× (claim ≥ 2×); rise {_d(rise)}"))
        off = paired(g, base, _acc(ATTACK, "cal"), _acc(ATTACK, "none"))
        records.append(_record(dataset, "C3", name, None if off["mean"] is None else abs(off["mean"]) <= 3,
                               f"{ATTACK} after cal {_sd(g.adversarial(ATTACK, 'cal'))} vs {_sd(base_acc)} at T_d = 1: "
                               f"{_d(off)} (claim within 3)"))
    if not down:
        records.append(_record(dataset, "C2", "baseline ↓conf", None, "no T_d > 1 audit in the store"))
    for g in down:
        name = f"baseline ↓conf T_d={g.serve_temperature:g}"
        d = {p: paired(g, base, _acc(ATTACK, p), _acc(ATTACK, "none")) for p in ("none", "cal", "opt")}
        known = all(d[p]["mean"] is not None for p in d)
        holds = None if not known else d["none"]["mean"] > 3 and d["cal"]["mean"] > 3 and abs(d["opt"]["mean"]) <= 3
        records.append(_record(dataset, "C2", name, holds,
                               f"{ATTACK} vs T_d = 1 ({_sd(base_acc)}): served {_d(d['none'])} (claim > +3), cal "
                               f"{_d(d['cal'])} (claim > +3: cal cannot fix it), opt {_d(d['opt'])} (claim within 3)"))
    return records


def _implicit(dataset, groups, data: ReportData) -> list:
    """C4: grad-norm training and its implicit illusion (with how close to 1 float32 holds its confidence:
    what decides whether a probability-score search is blinded, more than the mean confidence)."""
    records = []
    candidates = (("standard", True, {}, "baseline*"), ("pgd", True, {}, "pgd*"),
                  ("ddi", False, {"ddi_normalization": "normalize"}, "ddi"))
    for method, grad_norm, train, family_name in candidates:
        found = ordered_by_length(data, _groups(groups, method, grad_norm, train=train))
        if not found:
            records.append(_record(dataset, "C4", family_name, None, "not in the store"))
        for g in found:  # one record per training length when a store trained the model to several
            name = family_name if len(found) == 1 else f"{family_name} ({g.length_setting})"
            records.append(_implicit_record(dataset, groups, g, name, data))
    return records


def _baseline_for(groups, g, data: ReportData):
    """The standard model C4 compares ``g`` with after ``cal``: trained as long if the store has one, else
    the one whose training steps are nearest (the only one, in a store of one length)."""
    standard = _groups(groups, "standard", False)
    same = next((b for b in standard if b.length_setting == g.length_setting), None)
    if same is not None or len(standard) < 2:
        return same or (standard[0] if standard else None)
    steps = data.trained(g, "step")["mean"]
    if steps is None:
        return standard[0]
    return min(standard, key=lambda b: abs(math.log((data.trained(b, "step")["mean"] or 1.0) / steps)))


def _implicit_record(dataset, groups, g, name: str, data: ReportData) -> dict:
    base = _baseline_for(groups, g, data)
    conf = g.mean_confidence()
    gap = paired(g, g, _acc(ATTACK, "none"), _acc(ATTACK, "cal"))
    to_base = paired(g, base, _acc(ATTACK, "cal"), _acc(ATTACK, "none"), by="seed") if base else \
        {"mean": None, "std": None, "n": 0, "ci": None}
    if gap["mean"] is None:
        return _record(dataset, "C4", name, None, f"no {ATTACK} served and cal results")
    holds = (conf["mean"] >= 0.995 and gap["mean"] > 10
             and to_base["mean"] is not None and abs(to_base["mean"]) <= 5)
    lengths = {b.length_setting for b in _groups(groups, "standard", False)}
    which = "" if base is None or len(lengths) < 2 else \
        (", baseline trained as long" if base.length_setting == g.length_setting
         else f", baseline: standard, {base.length_setting}, the nearest length")
    return _record(dataset, "C4", name, holds,
                   f"mean clean confidence {_sd(conf)}% (claim ≥ 99.5%; median 1 − p "
                   f"{float32_steps(data.median_steps_to_one(g))} float32 steps); {ATTACK} served − cal {_d(gap)} "
                   f"(claim > 10); after cal − baseline {_d(to_base)} (claim within 5{which})")


def _genuine(dataset, groups) -> list:
    """C5: adversarial training without normalisation shows no illusion."""
    records = []
    candidates = [(m, {}, m) for m in ("pgd", "freelb", "ascc", "dg-aug")]
    candidates.append(("ddi", {"ddi_normalization": "none"}, "ddi (no normalisation)"))
    for method, train, name in candidates:
        g = _find(groups, method, False, train=train)
        if g is None:
            records.append(_record(dataset, "C5", name, None, "not in the store"))
            continue
        gap = g.gap(ATTACK)
        intervals = [a.result["attacks"].get(ATTACK, {}).get("gap_ci") for a in g.audits]
        shown = "; ".join(f"[{lo:+.1f}, {hi:+.1f}]" for lo, hi in (i for i in intervals if i))
        mean = "–" if gap["mean"] is None else f"{gap['mean']:+.2f}"
        spread = "" if gap["std"] is None else f" ± {gap['std']:.2f}"
        records.append(_record(dataset, "C5", name, None if gap["mean"] is None else gap["mean"] < 3,
                               f"{ATTACK} IOR gap {mean}{spread} points over {gap['n']} seed(s), per-seed 95% "
                               f"bootstrap {shown or '–'} (claim < 3)"))
    return records


def _high_temperature(dataset, groups) -> list:
    """C6: training at T = 100–200 against T = 1, same method with grad-norm, after cal."""
    records = []
    for method in ("standard", "pgd"):
        reference = _find(groups, method, True)
        for temperature in (100.0, 200.0):
            g = _find(groups, method, True, temperature)
            name = f"{method}* T={temperature:g}"
            if g is None or reference is None:
                if method == "standard":
                    records.append(_record(dataset, "C6", name, None, f"not in the store (or no {method}* at T = 1)"))
                continue
            attacks = sorted(set(g.attacks) & set(reference.attacks))
            deltas = {a: paired(g, reference, _acc(a, "cal"), by="seed") for a in attacks}
            raised = [a for a, d in deltas.items() if d["mean"] is not None and d["mean"] > 0]
            drop = paired(reference, g, lambda audit: audit.result["clean"]["accuracy"], by="seed")
            # The bar is 3 of the paper's 4 attacks. With fewer measured, the verdict is known only when
            # the raised ones already reach it, or cannot reach it even if every unmeasured one rose.
            unmeasured = len(set(PAPER_ATTACKS) - set(attacks))
            clean_ok = drop["mean"] is not None and drop["mean"] <= 2
            if not attacks or not clean_ok or len(raised) + unmeasured < C6_BAR:
                holds = False if attacks and drop["mean"] is not None else None
            else:
                holds = True if len(raised) >= C6_BAR else None
            details = "; ".join(f"{a} {_sd(reference.adversarial(a, 'cal'))} → {_sd(g.adversarial(a, 'cal'))} "
                                f"({_d(deltas[a])})" for a in attacks)
            coverage = "" if not unmeasured else (
                f" (measured on {len(attacks)} of the paper's {len(PAPER_ATTACKS)} attacks; its bar is "
                f"{C6_BAR} of {len(PAPER_ATTACKS)}" + ("; undecided until the others are)" if holds is None else ")"))
            records.append(_record(dataset, "C6", name, holds,
                                   f"post-cal raised on {len(raised)}/{len(attacks)} attacks{coverage}: {details}; "
                                   f"clean drop {_d(drop)} (claim ≤ 2)", undecided=bool(attacks)))
    return records


def _transfer(dataset, groups) -> list:
    """C7: examples crafted on the baseline, counted on a model with an illusion."""
    records = []
    for g in groups:
        attack = next((a for a in TRANSFER_ATTACKS if g.adversarial(a, "transfer")["mean"] is not None), None)
        if attack is None:
            continue
        name = f"{g.label}" + ("" if g.serve_temperature == 1 else f" T_d={g.serve_temperature:g}")
        below_served = paired(g, g, _acc(attack, "none"), _acc(attack, "transfer"))
        above_cal = paired(g, g, _acc(attack, "transfer"), _acc(attack, "cal"))
        illusion = paired(g, g, _acc(attack, "none"), _acc(attack, "cal"))
        stages = ", ".join(f"{p} {_sd(g.adversarial(attack, q))}" for p, q in
                           (("served", "none"), ("transfer", "transfer"), ("cal", "cal")))
        if illusion["mean"] is None or illusion["mean"] <= 3:
            records.append(_record(dataset, "C7", name, None,
                                   f"{attack}: {stages}; no illusion to pierce (served − cal {_d(illusion)})"))
            continue
        holds = below_served["mean"] > 3 and above_cal["mean"] is not None and above_cal["mean"] > 3
        records.append(_record(dataset, "C7", name, holds,
                               f"{attack}: {stages}; served − transfer {_d(below_served)} (claim > 3: it pierces), "
                               f"transfer − cal {_d(above_cal)} (claim > 3: only partly)"))
    if not records:
        records.append(_record(dataset, "C7", "transfer", None, "no audit ran the transfer piercing"))
    return records


def _platt(dataset, groups) -> list:
    """C8: Platt (matrix) scaling as the calibrator: its spread over seeds and whether it deepens the illusion."""
    records = []
    for g in groups:
        platt = g.adversarial(ATTACK, "platt")
        if platt["mean"] is None:
            continue
        name = f"{g.label}" + ("" if g.serve_temperature == 1 else f" T_d={g.serve_temperature:g}")
        deeper = paired(g, g, _acc(ATTACK, "platt"), _acc(ATTACK, "none"))
        unstable = platt["std"] is not None and 100 * platt["std"] >= 5
        deepens = deeper["mean"] is not None and deeper["mean"] > 3
        holds = True if unstable or deepens else (None if platt["n"] < 2 else False)
        records.append(_record(dataset, "C8", name, holds,
                               f"{ATTACK}: served {_sd(g.adversarial(ATTACK, 'none'))}, cal "
                               f"{_sd(g.adversarial(ATTACK, 'cal'))}, platt {_sd(platt)} over {platt['n']} seed(s) "
                               f"(claim: std ≥ 5, or above served by > 3: platt − served {_d(deeper)})"
                               + ("; one seed: the spread is not measured" if platt["n"] < 2 else "")))
    if not records:
        records.append(_record(dataset, "C8", "platt", None, "no audit ran the platt piercing"))
    return records


def _word_importance(dataset, pairs) -> list:
    """C9: Spearman ρ between word-importance ranks at T_d = 1 and ↑conf (Table 20)."""
    records = []
    for pair in pairs:
        if pair["dataset"] != dataset:
            continue
        rho = pair["spearman"]
        holds = None if rho["mean"] is None else rho["mean"] <= 0.5
        spread = "" if rho["std"] is None else f" ± {rho['std']:.2f}"
        mean = "–" if rho["mean"] is None else f"{rho['mean']:.2f}"
        seeds = ("seeds " if len(pair["seeds"]) > 1 else "seed ") + ", ".join(str(seed) for seed in pair["seeds"])
        records.append(_record(dataset, "C9", f"{pair['model']} vs {pair['twin']}", holds,
                               f"{pair['attack']}: Spearman ρ {mean}{spread} over {rho['n']} examples, {seeds} "
                               "(claim ≤ 0.5)"))
    if not records:
        records.append(_record(dataset, "C9", "word importance", None, "no model ranked at T_d = 1 and T_d < 1"))
    return records


def _record(dataset, claim, model, holds, evidence, *, undecided: bool = False) -> dict:
    """One claim's verdict; ``undecided``: measured, but too partly for the claim's bar (holds is None)."""
    record = {"dataset": dataset, "claim": claim, "model": model, "holds": holds, "evidence": evidence}
    if undecided and holds is None:
        record["verdict"] = "undecided"
    return record


def claims_table(data: ReportData, word_importance: list | None = None) -> tuple[list, list]:
    records = check_claims(data, word_importance)
    if not data.groups:
        return [Missing("Paper claims", "the store holds no finished audit.")], records
    verdict = {True: "holds", False: "**does not hold**", None: "not measured"}
    rows = [[r["dataset"], r["claim"], r["model"],
             "measured" if r["holds"] is None and r["claim"] == "I5" else r.get("verdict") or verdict[r["holds"]],
             r["evidence"]]
            for r in records]
    modalities = {data.modality(d) for d in data.datasets}
    captions = []
    if "text" in modalities:
        captions.append(TEXT_CAPTION)
    if "image" in modalities:
        captions.append(IMAGE_CAPTION)
    return [Table("", ["dataset", "claim", "model", "verdict", "numbers (% or points; mean ± std over seeds)"], rows,
                  " ".join(captions) + " Where ours differ from the paper, this table says so.")], records


TEXT_CAPTION = ("Claims C1–C9 of the paper, DeepWordBug unless named: (C1) ↑conf looks ≥ 2× as robust; (C2) ↓conf "
                "looks > 3 points more robust, cal leaves it so, opt brings it within 3 points; (C3) after cal ↑conf "
                "is within 3 points of T_d = 1; (C4) grad-norm models ≥ 99.5% confident, served − cal > 10 points, "
                "after cal within 5 of the baseline; (C5) AT without normalisation: gap < 3; (C6) training at "
                "T = 100–200 raises post-cal accuracy on ≥ 3/4 of the four attacks for a clean drop ≤ 2; (C7) "
                "transfer pierces an illusion partly (> 3 below served, > 3 above cal); (C8) platt unstable over "
                "seeds (std ≥ 5) or deepening (> 3 above served); (C9) ↑conf word-importance Spearman ρ ≤ 0.5. "
                "Differences are paired by seed; [95% CI] is a t-interval over seeds (≥ 2 seeds).")
