"""The illusion's claims for image classifiers, checked against the store whichever way they come out.

The paper states its claims for text; issue 9 restates them for images, where the attack that a
temperature can fool is PGD on the cross-entropy and the losses on logit differences (APGD-DLR,
AutoAttack's targeted DLR, Square's margin) are temperature-free:

- I1 ↑conf: served at T_d < 1, PGD finds ≥ 10 points fewer adversarial examples than at T_d = 1;
- I2 ``cal`` pierces it: after ``cal`` the ↑conf model's PGD accuracy is within 3 points of T_d = 1;
- I3 temperature-free attacks see through it: APGD-DLR and AutoAttack gaps < 2 points;
- I4 the mechanism: ≥ 50% of input gradients are exactly 0 at T_d < 1, < 10% at T_d = 1 and after ``cal``;
- I5 ↓conf (T_d > 1): what PGD shows as served, after ``cal`` and after ``opt`` (measured, no bar);
- I6 implicit illusion: grad-norm training (standard*, pgd*) gives ≥ 99.5% confidence and a PGD
  served − ``cal`` gap > 10 points;
- I7 training temperature: post-``cal`` accuracy at T = 10/100/200 against T = 1, same method and
  grad-norm, on every measured attack among PGD, APGD-DLR and AutoAttack (gain when it rises on at
  least three quarters of them for a clean drop ≤ 2 points).
"""

from __future__ import annotations

PGD = "pgd"
TEMPERATURE_FREE = ("apgd-dlr", "autoattack")
HIGH_T_ATTACKS = ("pgd", "apgd-dlr", "autoattack")
CAPTION = ("Image claims: (I1) served at T_d < 1, PGD accuracy ≥ 10 points above T_d = 1; (I2) after cal within 3 "
           "points of T_d = 1; (I3) APGD-DLR and AutoAttack gaps < 2 points; (I4) ≥ 50% exactly-zero input "
           "gradients at T_d < 1, < 10% at T_d = 1 and after cal; (I5) ↓conf as measured; (I6) grad-norm models "
           "≥ 99.5% confident with a PGD gap > 10 points; (I7) post-cal gain of training at T = 10–200 over T = 1 "
           "on ≥ 3/4 of PGD, APGD-DLR, AutoAttack for a clean drop ≤ 2 points. Means over seeds, %.")


def _p(value) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def _sd(stat) -> str:
    if stat["mean"] is None:
        return "–"
    return f"{100 * stat['mean']:.2f}" + ("" if stat["std"] is None else f" ± {100 * stat['std']:.2f}")


def _find(groups, method, grad_norm, train_temperature=1.0, serve=lambda t: t == 1.0):
    found = [g for g in groups if (g.method, g.grad_norm, g.train_temperature) == (method, grad_norm, train_temperature)
             and serve(g.serve_temperature)]
    return sorted(found, key=lambda g: g.serve_temperature)


def _gradient(group, stage: str):
    """Mean share of exactly-zero input gradients at ``stage`` over the group's seeds (None if absent)."""
    values = [((a.result.get("gradients") or {}).get(stage) or {}).get("zero_fraction") for a in group.audits]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _record(dataset, claim, model, holds, evidence) -> dict:
    return {"dataset": dataset, "claim": claim, "model": model, "holds": holds, "evidence": evidence}


def check_image_claims(dataset: str, groups: list) -> list:
    """One record per image claim × model: ``holds`` True, False or None (no data or no bar)."""
    records = []
    base = next(iter(_find(groups, "standard", False)), None)
    base_pgd = base.adversarial(PGD, "none")["mean"] if base else None
    up = _find(groups, "standard", False, serve=lambda t: t < 1)
    down = _find(groups, "standard", False, serve=lambda t: t > 1)
    if base is None or not up:
        records.append(_record(dataset, "I1–I4", "↑conf", None, "no standard model at T_d = 1 and T_d < 1 in the store"))
    for g in up:
        name = f"↑conf T_d={g.serve_temperature:g}"
        served, cal = g.adversarial(PGD, "none")["mean"], g.adversarial(PGD, "cal")["mean"]
        if served is None or base_pgd is None:
            records.append(_record(dataset, "I1–I2", name, None, "no PGD results"))
        else:
            rise = 100 * (served - base_pgd)
            records.append(_record(dataset, "I1", name, rise >= 10,
                                   f"PGD served {_p(served)} vs {_p(base_pgd)} at T_d = 1 ({rise:+.2f} points; claim ≥ +10)"))
            if cal is not None:
                off = 100 * (cal - base_pgd)
                records.append(_record(dataset, "I2", name, abs(off) <= 3,
                                       f"PGD after cal {_p(cal)} vs {_p(base_pgd)} ({off:+.2f} points; claim within 3)"))
        gaps = {a: g.gap(a)["mean"] for a in TEMPERATURE_FREE if a in g.attacks}
        if gaps:
            records.append(_record(dataset, "I3", name, all(v is not None and abs(v) < 2 for v in gaps.values()),
                                   ", ".join(f"{a} gap {'–' if v is None else f'{v:+.2f}'}" for a, v in gaps.items())
                                   + " points (claim < 2)"))
        zero_up, zero_cal, zero_base = _gradient(g, "served"), _gradient(g, "cal"), _gradient(base, "served") if base else None
        if None not in (zero_up, zero_cal, zero_base):
            records.append(_record(dataset, "I4", name, zero_up >= 0.5 and zero_base < 0.1 and zero_cal < 0.1,
                                   f"exactly-zero input gradients: {_p(zero_up)} at T_d = {g.serve_temperature:g}, "
                                   f"{_p(zero_base)} at T_d = 1, {_p(zero_cal)} after cal"))
    for g in down:
        stats = {p: g.adversarial(PGD, p)["mean"] for p in ("none", "cal", "opt")}
        records.append(_record(dataset, "I5", f"↓conf T_d={g.serve_temperature:g}", None,
                               f"PGD served {_p(stats['none'])}, cal {_p(stats['cal'])}, opt {_p(stats['opt'])} "
                               f"(T_d = 1: {_p(base_pgd)}); measured, no bar"))
    for method in ("standard", "pgd"):
        g = next(iter(_find(groups, method, True)), None)
        if g is None:
            records.append(_record(dataset, "I6", f"{method}*", None, "not in the store"))
            continue
        conf = g.mean_confidence()["mean"]
        served, cal = g.adversarial(PGD, "none")["mean"], g.adversarial(PGD, "cal")["mean"]
        gap = None if served is None or cal is None else 100 * (served - cal)
        records.append(_record(dataset, "I6", f"{method}*", None if gap is None else (conf >= 0.995 and gap > 10),
                               f"mean clean confidence {_p(conf)}% (claim ≥ 99.5%); PGD served {_p(served)}, cal "
                               f"{_p(cal)} (gap {'–' if gap is None else f'{gap:+.2f}'}; claim > 10)"))
    records.extend(_high_temperature(dataset, groups))
    return records


def _high_temperature(dataset: str, groups: list) -> list:
    records = []
    for method in ("standard", "pgd"):
        for grad_norm in (False, True):
            reference = next(iter(_find(groups, method, grad_norm)), None)
            name = method + ("*" if grad_norm else "")
            for temperature in (10.0, 100.0, 200.0):
                g = next(iter(_find(groups, method, grad_norm, temperature)), None)
                if g is None or reference is None:
                    continue
                attacks = [a for a in HIGH_T_ATTACKS if a in g.attacks and a in reference.attacks]
                deltas = {a: (g.adversarial(a, "cal")["mean"], reference.adversarial(a, "cal")["mean"]) for a in attacks}
                raised = [a for a, (now, ref) in deltas.items() if now is not None and ref is not None and now > ref]
                drop = (reference.clean_accuracy()["mean"] or 0) - (g.clean_accuracy()["mean"] or 0)
                holds = bool(attacks) and len(raised) >= 0.75 * len(attacks) and 100 * drop <= 2
                details = ", ".join(f"{a} {_sd(reference.adversarial(a, 'cal'))} → {_sd(g.adversarial(a, 'cal'))}"
                                    for a in attacks)
                records.append(_record(dataset, "I7", f"{name} T={temperature:g}", holds,
                                       f"post-cal raised on {len(raised)}/{len(attacks)} ({details}); clean drop "
                                       f"{100 * drop:+.2f} points (claim ≤ 2); seeds {len(g.audits)}"))
    if not records:
        records.append(_record(dataset, "I7", "training T", None, "no method trained at T = 1 and T ≥ 10 in the store"))
    return records
