"""The paper's tables from the store: each function returns Tables, or a Missing note saying why not.

Accuracies and confidences are percentages, mean ± std over training seeds (the std is left out when
there is one seed). Rows are models: the training variant (``pgd*`` = pgd with gradient
normalization, ``T=200`` = training temperature) and, for a serving temperature T_d ≠ 1, ↑conf or ↓conf.
"""

from __future__ import annotations

from collections import defaultdict

from ior.experiments.word_importance import ranking_correlation
from ior.reporting.data import ReportData, float32_steps, mean_std, pct, points, row_label
from ior.reporting.document import Missing, Table

PIERCING_NAMES = {"none": "−", "cal": "cal", "opt": "opt", "platt": "platt", "transfer": "transfer"}


def _seeds(group) -> str:
    """How many seeds, then which: "1 (seed 0)", "3 (seeds 0, 1, 2)" (a bare "0" read as zero seeds)."""
    seeds = list(group.seeds)
    return f"{len(seeds)} ({'seed' if len(seeds) == 1 else 'seeds'} {', '.join(str(s) for s in seeds)})"


def table1(data: ReportData) -> list:
    """Clean accuracy, mean confidence on clean and adversarial text, ECE/MCE."""
    if not data.groups:
        return [Missing("Table 1", "the store holds no finished audit.")]
    out = []
    for dataset in data.datasets:
        groups = data.by_dataset(dataset)
        attacks = sorted({a for g in groups for a in g.attacks})
        header = ["model", "clean acc", "conf clean", *[f"conf adv ({a})" for a in attacks], "ECE", "MCE", "seeds"]
        rows = [[row_label(g), pct(g.clean_accuracy()), pct(g.mean_confidence()),
                 *[pct(g.adversarial_confidence(a)) for a in attacks], pct(g.calibration("ece")),
                 pct(g.calibration("mce")), _seeds(g)] for g in groups]
        out.append(Table(f"{dataset}", header, rows,
                         "Mean confidence is the predicted-class probability of the served model; on adversarial "
                         "inputs it is averaged over the examples classified correctly before the attack (served "
                         "attack). ECE/MCE: 15 equal-width bins (Naeini et al. 2015)."))
    return out


def table_adversarial(data: ReportData) -> list:
    """Adversarial accuracy per attack as served (−), after ``cal`` and after ``opt``."""
    if not data.groups:
        return [Missing("Tables 2–3", "the store holds no finished audit.")]
    out = []
    for dataset in data.datasets:
        groups = data.by_dataset(dataset)
        attacks = sorted({a for g in groups for a in g.attacks})
        rows = []
        for g in groups:
            for i, piercing in enumerate(g.piercings()):
                rows.append([row_label(g) if i == 0 else "", PIERCING_NAMES[piercing],
                             pct(g.clean_accuracy()) if i == 0 else "",
                             *[pct(g.adversarial(a, piercing)) for a in attacks]])
        out.append(Table(dataset, ["model", "piercing", "clean", *attacks], rows,
                         "Adversarial accuracy: accuracy of the served model on the attack's outputs over the "
                         "attacked test examples. `cal`: the attack runs on logits / (T_d · T_a) with T_a fitted by "
                         "validation NLL; `opt`: with T_a minimising adversarial accuracy on a validation subset "
                         f"(under {_opt_attack(groups)}). Adversarial inputs are always scored on the served model."))
    return out


def _opt_attack(groups) -> str:
    found = sorted({a.result["opt"]["attack"] for g in groups for a in g.audits if a.result.get("opt")})
    return ", ".join(found) or "DeepWordBug"


def table_gradients(data: ReportData) -> list:
    """Share of exactly-zero input gradients (served, cal, opt) and the per-example worst case."""
    out = []
    for dataset in data.datasets:
        groups = [g for g in data.by_dataset(dataset) if any(a.result.get("gradients") for a in g.audits)]
        if not groups:
            continue
        rows = [[row_label(g), *[pct(data.gradient_zero_share(g, stage)) for stage in ("served", "cal", "opt")],
                 pct(data.saturated_share(g)), float32_steps(data.median_steps_to_one(g)),
                 pct(g.stat(lambda a: (a.result.get("worst_case") or {}).get("accuracy")))] for g in groups]
        out.append(Table(dataset, ["model", "zero grad served", "zero grad cal", "zero grad opt", "p = 1 served",
                                   "1 − p served (float32 steps)", "worst case"], rows,
                         "Share (%) of test inputs whose float32 gradient of the cross-entropy with respect to the "
                         "input (pixels; token embeddings for text) is exactly 0, served and at the cal and opt "
                         "temperatures: what a gradient attack cannot move. p = 1: share (%) of clean test inputs "
                         "whose served top-class probability is exactly 1 in float32, so a probability score sees "
                         "no change; 1 − p: its median, over the clean test inputs of every seed, in steps of "
                         "2^−24 ≈ 6·10^−8, the spacing of float32 just below 1 (1 − p ≈ e^−margin: a logit margin "
                         "of 15 leaves ~5 steps, 8 leaves ~5,600): a score a few steps from 1 moves only by whole "
                         "steps, and a search ranking candidates by it sees ties. Worst case: accuracy when an "
                         "example counts as robust only if it survives every attack and piercing (AutoAttack's "
                         "rule)."))
    if not out:
        return [Missing("Input gradients", "no audit in the store recorded input gradients (audits made before "
                                           "the diagnostic existed).")]
    return out


def table_gap(data: ReportData) -> list:
    """The IOR gap (served − min(cal, opt), in points) and the audit's verdicts."""
    if not data.groups:
        return [Missing("IOR gap", "the store holds no finished audit.")]
    out = []
    for dataset in data.datasets:
        groups = data.by_dataset(dataset)
        attacks = sorted({a for g in groups for a in g.attacks})
        rows = []
        for g in groups:
            cells = []
            for a in attacks:
                verdicts = [(audit.result["attacks"].get(a) or {}).get("verdict") for audit in g.audits]
                illusions = sum(v == "illusion of robustness" for v in verdicts)
                cells.append(f"{points(g.gap(a))} ({illusions}/{len([v for v in verdicts if v])} illusion)")
            rows.append([row_label(g), *cells])
        out.append(Table(dataset, ["model", *attacks], rows,
                         "Gap in accuracy points, mean ± std over seeds; in brackets the number of seeds the audit "
                         "calls an illusion of robustness (gap above the threshold and its paired-bootstrap 95% "
                         "interval excluding 0)."))
    return out


def _families(groups) -> dict:
    families = defaultdict(list)
    for g in groups:
        if g.serve_temperature == 1:
            families[g.family].append(g)
    return {k: sorted(v, key=lambda g: g.train_temperature) for k, v in families.items()
            if len({g.train_temperature for g in v}) > 1 and any(g.train_temperature == 1 for g in v)}


def families_by_dataset(data: ReportData, find):
    """``(dataset, families, attacks)`` per dataset where ``find`` (groups -> {family: groups}) finds any."""
    for dataset in data.datasets:
        families = find(data.by_dataset(dataset))
        if families:
            yield dataset, families, sorted({a for v in families.values() for g in v for a in g.attacks})


def table4(data: ReportData) -> list:
    """Training temperature with every method: post-``cal`` robustness at T = 1 and above."""
    out = []
    for dataset, families, attacks in families_by_dataset(data, _families):
        rows = []
        for members in families.values():
            base = members[0]
            for g in members:
                cells = []
                for a in attacks:
                    now, ref = g.adversarial(a, "cal"), base.adversarial(a, "cal")
                    text = pct(now)
                    if g is not base and now["mean"] is not None and ref["mean"] is not None:
                        text += f" ({100 * (now['mean'] - ref['mean']):+.2f})"
                    cells.append(text)
                clean = pct(g.clean_accuracy())
                if g is not base and g.clean_accuracy()["mean"] is not None and base.clean_accuracy()["mean"] is not None:
                    clean += f" ({100 * (g.clean_accuracy()['mean'] - base.clean_accuracy()['mean']):+.2f})"
                rows.append([g.label, f"{g.train_temperature:g}", clean, *cells])
        out.append(Table(dataset, ["model", "train T", "clean", *[f"{a} (cal)" for a in attacks]], rows,
                         "Adversarial accuracy after `cal` (served at T_d = 1); in brackets the change from the "
                         "same method at training temperature 1."))
    if not out:
        return [Missing("Table 4", "no training method was run at more than one training temperature "
                                   "(including T = 1).")]
    return out


def length_families(groups) -> dict:
    """Groups served at T_d = 1 that differ only in how long their models trained, shortest first;
    only families with more than one length."""
    families = defaultdict(list)
    for g in groups:
        if g.serve_temperature == 1:
            families[g.length_family].append(g)
    return {k: v for k, v in families.items() if len({g.length_setting for g in v}) > 1}


def served_minus_cal(group, attack: str) -> dict:
    """Mean ± std over seeds of served − ``cal`` adversarial accuracy, in points (C4's gap)."""
    def gap(audit):
        served, cal = audit.accuracy(attack, "none"), audit.accuracy(attack, "cal")
        return None if served is None or cal is None else 100 * (served - cal)
    return group.stat(gap)


def ordered_by_length(data: ReportData, members: list) -> list:
    return sorted(members, key=lambda g: (data.trained(g, "step")["mean"] or 0, g.length_setting))


def table_training_length(data: ReportData) -> list:
    """How long each model trained against its confidence and its served − ``cal`` gap (C4's terms)."""
    out = []
    for dataset, families, attacks in families_by_dataset(data, length_families):
        rows = []
        for members in families.values():
            for g in ordered_by_length(data, members):
                loss = data.trained(g, "train_loss")
                rows.append([g.variant, g.length_setting, _steps(data.trained(g, "step")),
                             "–" if loss["mean"] is None else f"{loss['mean']:.3f}", pct(g.clean_accuracy()),
                             pct(g.mean_confidence()), float32_steps(data.median_steps_to_one(g)), _seeds(g),
                             *[f"{pct(g.adversarial(a, 'none'))} / {pct(g.adversarial(a, 'cal'))} "
                               f"({points(served_minus_cal(g, a))})" for a in attacks]])
        out.append(Table(dataset, ["model", "length", "steps trained", "final train loss", "clean",
                                   "mean confidence", "1 − p (float32 steps)", "seeds",
                                   *[f"{a} − / cal (gap)" for a in attacks]], rows,
                         "Models that differ only in how long they trained (epochs, stopping rule), served at "
                         "T_d = 1: steps trained, the last epoch's mean training loss, clean accuracy and mean "
                         "confidence, the median of 1 − p (top-class probability) in float32 steps of 2^−24 "
                         "(see the input-gradients table: a score a few steps from 1 gives the search no signal), "
                         "and adversarial accuracy served / after `cal` with served − cal in points. C4 reads "
                         "≥ 99.5% mean confidence and a gap > 10 points."))
    if not out:
        return [Missing("Training length", "no model was trained to more than one length with everything "
                                           "else equal.")]
    return out


def _steps(stat: dict) -> str:
    if stat["mean"] is None:
        return "–"
    return f"{stat['mean']:.0f}" if not stat["std"] else f"{stat['mean']:.0f} ± {stat['std']:.0f}"


def word_importance_pairs(data: ReportData) -> list:
    """(model at T_d = 1, ↑conf twin, attack, per-example Spearman ρ) for every ranked pair."""
    pairs = []
    for dataset in data.datasets:
        groups = data.by_dataset(dataset)
        for base in [g for g in groups if g.serve_temperature == 1]:
            twins = [g for g in groups if g.model_group == base.model_group and g.serve_temperature < 1]
            for twin in twins:
                twin_by_train = {a.train_key: a for a in twin.audits}
                rhos = defaultdict(list)
                for audit in base.audits:
                    other = twin_by_train.get(audit.train_key)
                    if other is None:
                        continue
                    theirs = {(r["_attack"], r["_idx"]): r for r in data.store.examples(other.key, "word_importance")}
                    for record in data.store.examples(audit.key, "word_importance"):
                        match = theirs.get((record["_attack"], record["_idx"]))
                        if match is not None:
                            rho = ranking_correlation(record["order"], match["order"])
                            if rho is not None:
                                rhos[record["_attack"]].append(rho)
                for attack, values in sorted(rhos.items()):
                    pairs.append({"dataset": dataset, "model": row_label(base), "twin": row_label(twin),
                                  "attack": attack, "spearman": mean_std(values), "seeds": base.seeds})
    return pairs


def table20(data: ReportData, pairs: list | None = None) -> list:
    pairs = word_importance_pairs(data) if pairs is None else pairs
    if not pairs:
        return [Missing("Table 20", "no model was ranked both at T_d = 1 and at a T_d < 1 (set `word_importance` "
                                    "in the sweep config and serve a model at T_d = 1 and below 1).")]
    rows = [[p["dataset"], p["model"], p["twin"], p["attack"],
             "–" if p["spearman"]["mean"] is None else
             f"{p['spearman']['mean']:.2f}" + ("" if p["spearman"]["std"] is None else f" ± {p['spearman']['std']:.2f}"),
             p["spearman"]["n"]] for p in pairs]
    return [Table("", ["dataset", "model", "twin", "attack", "Spearman ρ", "examples"], rows,
                  "Spearman rank correlation between the first-iteration word-importance rankings of the model "
                  "and of its ↑conf twin (same weights, served at T_d < 1), mean ± std over test examples (all "
                  "seeds pooled). The paper reports 0.28 ± 0.24 (pwws) and 0.29 ± 0.26 (textfooler) for "
                  "DeBERTa on rt.")]
