"""The paper's headline claims, checked against the store with the numbers, whichever way they come out.

The claims (Raina et al. 2024; this project's issue 4 acceptance list), for DeepWordBug:

1. gradient normalization makes models extremely over-confident: baseline*, ddi and pgd* reach a mean
   clean confidence ≥ 99.5%;
2. that over-confidence is an illusion of robustness: the served − cal gap exceeds 10 points, and after
   ``cal`` their adversarial accuracy is within 5 points of the baseline's;
3. AT without normalization (pgd, freelb, ascc, dg-aug) is genuine: IOR gap < 3 points;
4. training at T = 100–200 with grad-norm raises post-cal adversarial accuracy over T = 1 on at least
   three quarters of the attacks, for a clean-accuracy drop ≤ 2 points.
"""

from __future__ import annotations

from ior.reporting.data import ReportData
from ior.reporting.document import Missing, Table
from ior.reporting.image_claims import CAPTION as IMAGE_CAPTION
from ior.reporting.image_claims import check_image_claims

ATTACK = "deepwordbug"
PAPER_ATTACKS = ("bae", "textfooler", "pwws", "deepwordbug")  # claim 4 counts raised attacks of these


def _find(groups, method, grad_norm, temperature=1.0):
    for g in groups:
        if (g.method, g.grad_norm, g.train_temperature, g.serve_temperature) == (method, grad_norm, temperature, 1.0):
            return g
    return None


def _p(value) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def check_claims(data: ReportData) -> list:
    """One record per claim × model × dataset: ``holds`` is True, False or None (no data)."""
    records = []
    for dataset in data.datasets:
        groups = data.by_dataset(dataset)
        if data.modality(dataset) == "image":
            records.extend(check_image_claims(dataset, groups))
            continue
        baseline = _find(groups, "standard", False)
        base_acc = baseline.adversarial(ATTACK, "none")["mean"] if baseline else None
        for method, grad_norm, name in (("standard", True, "baseline*"), ("ddi", False, "ddi"), ("pgd", True, "pgd*")):
            g = _find(groups, method, grad_norm)
            if g is None:
                records.append(_record(dataset, "1–2", name, None, "not in the store"))
                continue
            conf = g.mean_confidence()["mean"]
            served, cal = g.adversarial(ATTACK, "none")["mean"], g.adversarial(ATTACK, "cal")["mean"]
            records.append(_record(dataset, "1", name, conf is not None and conf >= 0.995,
                                   f"mean clean confidence {_p(conf)}% (claim ≥ 99.5%)"))
            if served is None or cal is None:
                records.append(_record(dataset, "2", name, None, f"no {ATTACK} served and cal results"))
                continue
            gap = 100 * (served - cal)
            close = base_acc is not None and abs(100 * (cal - base_acc)) <= 5
            records.append(_record(dataset, "2", name, gap > 10 and close,
                                   f"{ATTACK}: served {_p(served)}, cal {_p(cal)} (gap {gap:+.2f}, claim > 10); "
                                   f"baseline served {_p(base_acc)} (claim: cal within 5 points)"))
        for method in ("pgd", "freelb", "ascc", "dg-aug"):
            g = _find(groups, method, False)
            if g is None:
                records.append(_record(dataset, "3", method, None, "not in the store"))
                continue
            gap = g.gap(ATTACK)["mean"]
            records.append(_record(dataset, "3", method, None if gap is None else gap < 3,
                                   f"{ATTACK} IOR gap {'–' if gap is None else f'{gap:+.2f}'} points (claim < 3)"))
        reference = _find(groups, "standard", True)
        for temperature in (100.0, 200.0):
            g = _find(groups, "standard", True, temperature)
            name = f"standard* T={temperature:g}"
            if g is None or reference is None:
                records.append(_record(dataset, "4", name, None, "not in the store (or no standard* at T = 1)"))
                continue
            attacks = sorted(set(g.attacks) & set(reference.attacks))
            raised = [a for a in attacks if (g.adversarial(a, "cal")["mean"] or 0) > (reference.adversarial(a, "cal")["mean"] or 0)]
            drop = (reference.clean_accuracy()["mean"] or 0) - (g.clean_accuracy()["mean"] or 0)
            holds = bool(attacks) and len(raised) >= 0.75 * len(attacks) and 100 * drop <= 2
            details = ", ".join(f"{a} {_p(reference.adversarial(a, 'cal')['mean'])}→{_p(g.adversarial(a, 'cal')['mean'])}"
                                for a in attacks)
            coverage = "" if len(attacks) >= len(PAPER_ATTACKS) else \
                f" (measured on {len(attacks)} of the paper's {len(PAPER_ATTACKS)} attacks; its bar is 3 of 4)"
            records.append(_record(dataset, "4", name, holds,
                                   f"post-cal raised on {len(raised)}/{len(attacks)} attacks{coverage} ({details}); "
                                   f"clean drop {100 * drop:+.2f} points (claim ≤ 2)"))
    return records


def _record(dataset, claim, model, holds, evidence) -> dict:
    return {"dataset": dataset, "claim": claim, "model": model,
            "holds": holds, "evidence": evidence}


def claims_table(data: ReportData) -> tuple[list, list]:
    records = check_claims(data)
    if not data.groups:
        return [Missing("Paper claims", "the store holds no finished audit.")], records
    verdict = {True: "holds", False: "**does not hold**", None: "no data"}
    rows = [[r["dataset"], r["claim"], r["model"],
             "measured" if r["holds"] is None and r["claim"] == "I5" else verdict[r["holds"]], r["evidence"]]
            for r in records]
    modalities = {data.modality(d) for d in data.datasets}
    captions = []
    if "text" in modalities:
        captions.append(TEXT_CAPTION)
    if "image" in modalities:
        captions.append(IMAGE_CAPTION)
    return [Table("", ["dataset", "claim", "model", "verdict", "numbers (means over seeds, %)"], rows,
                  " ".join(captions) + " Where ours differ from the paper, this table says so.")], records


TEXT_CAPTION = ("Claims: (1) grad-norm models reach ≥ 99.5% mean clean confidence; (2) their served − cal gap "
                "under DeepWordBug exceeds 10 points and after cal they are within 5 points of the baseline; "
                "(3) AT without normalization shows an IOR gap < 3 points; (4) training at T = 100–200 with "
                "grad-norm raises post-cal adversarial accuracy over T = 1 on at least 3/4 of the attacks for a "
                "clean drop ≤ 2 points.")
