"""The paper's figures as PNGs (matplotlib, Agg, object-oriented API: no global pyplot state).

Each function writes its PNGs under ``<report folder>/figures/`` and returns :class:`Figure` items,
or a :class:`Missing` note when the store has nothing to draw.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from ior.reporting.data import ReportData, row_label
from ior.reporting.document import Figure, Missing

FIGURES_DIR = "figures"
N_BINS = 15


def _new_figure(n_panels: int, *, width: float = 4.2, height: float = 3.4, columns: int = 3):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure as MplFigure

    columns = max(1, min(columns, n_panels))
    rows = int(np.ceil(n_panels / columns))
    fig = MplFigure(figsize=(width * columns, height * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _save(fig, folder: Path, name: str) -> str:
    """Write the PNG atomically (a temporary file renamed over the old one)."""
    (folder / FIGURES_DIR).mkdir(parents=True, exist_ok=True)
    relative = f"{FIGURES_DIR}/{name}.png"
    temporary = folder / FIGURES_DIR / f".{name}.png.tmp"
    fig.savefig(temporary, dpi=110, format="png", metadata={"Software": None})
    os.replace(temporary, folder / relative)
    return relative


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower() or "x"


def _min_span(ax, values: list, *, span: float) -> None:
    """Widen the y axis to at least ``span`` percentage points (within 0-100), so a flat line reads as flat
    rather than as a change magnified by autoscaling."""
    if not values:
        return
    low, high = ax.get_ylim()
    if high - low >= span:
        return
    middle = (min(values) + max(values)) / 2
    low = float(np.clip(middle - span / 2, -1.0, 101.0 - span))
    ax.set_ylim(low, low + span)


def figure1(data: ReportData, folder: Path) -> list:
    """Adversarial accuracy against mean clean confidence, one line per model over serving temperatures."""
    out = []
    for dataset in data.datasets:
        models = defaultdict(list)
        for g in data.by_dataset(dataset):
            models[g.model_group].append(g)
        swept = {k: sorted(v, key=lambda g: g.mean_confidence()["mean"] or 0) for k, v in models.items() if len(v) > 1}
        if not swept:
            continue
        attacks = sorted({a for v in swept.values() for g in v for a in g.attacks})
        fig, axes = _new_figure(len(attacks))
        for ax, attack in zip(axes, attacks):
            placed = []  # (x, y) of the labels on this panel, so near points get stacked labels
            values = []
            for members in swept.values():
                x = [100 * (g.mean_confidence()["mean"] or np.nan) for g in members]
                for piercing, style in (("none", "-o"), ("cal", "--s")):
                    y = [100 * (g.adversarial(attack, piercing)["mean"] if g.adversarial(attack, piercing)["mean"]
                                is not None else np.nan) for g in members]
                    if np.all(np.isnan(y)):
                        continue
                    name = members[0].label + ("" if piercing == "none" else " after cal")
                    ax.plot(x, y, style, label=name, alpha=0.85 if piercing == "none" else 0.6)
                    values += [v for v in y if not np.isnan(v)]
                for g, xi in zip(members, x):
                    yi = g.adversarial(attack, "none")["mean"]
                    if yi is not None:
                        near = sum(abs(xi - px) < 15 and abs(100 * yi - py) < 8 for px, py in placed)
                        placed.append((xi, 100 * yi))
                        ax.annotate(f"T_d={g.serve_temperature:g}", (xi, 100 * yi), fontsize=7,
                                    textcoords="offset points", xytext=(3, 3 - 10 * near))
            ax.margins(0.12)
            _min_span(ax, values, span=10)
            ax.set_xlabel("mean confidence on clean test (%)")
            ax.set_ylabel("adversarial accuracy (%)")
            ax.set_title(f"{dataset}: {attack}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        path = _save(fig, folder, f"figure1-{_slug(dataset)}")
        out.append(Figure(f"Figure 1 ({dataset})", path,
                          "Each line is one trained model served at several temperatures T_d: solid, attacked as "
                          "served; dashed, after `cal`. Extreme confidence in either direction raises the measured "
                          "adversarial accuracy without changing the model."))
    return out or [Missing("Figure 1", "no model was served at more than one temperature.")]


def figure2(data: ReportData, folder: Path) -> list:
    """Change in post-cal adversarial accuracy (and clean accuracy) against the training temperature."""
    from ior.reporting.tables import _families

    out = []
    for dataset in data.datasets:
        families = _families(data.by_dataset(dataset))
        if not families:
            continue
        fig, axes = _new_figure(len(families))
        for ax, members in zip(axes, families.values()):
            base = members[0]
            temps = [g.train_temperature for g in members]
            for attack in sorted({a for g in members for a in g.attacks}):
                ref = base.adversarial(attack, "cal")
                if ref["mean"] is None:
                    continue
                y, err = [], []
                for g in members:
                    now = g.adversarial(attack, "cal")
                    y.append(np.nan if now["mean"] is None else 100 * (now["mean"] - ref["mean"]))
                    err.append(100 * float(np.hypot(now["std"] or 0.0, ref["std"] or 0.0)))
                ax.errorbar(temps, y, yerr=err, marker="o", capsize=3, label=f"{attack} (cal)")
            clean_ref = base.clean_accuracy()["mean"]
            if clean_ref is not None:
                ax.plot(temps, [100 * ((g.clean_accuracy()["mean"] or np.nan) - clean_ref) for g in members], "k--",
                        marker="x", label="clean")
            ax.axhline(0, color="grey", lw=0.8)
            ax.set_xscale("log")
            ax.set_xlabel("training temperature T")
            ax.set_ylabel("change from T = 1 (points)")
            ax.set_title(f"{dataset}: {base.label}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        path = _save(fig, folder, f"figure2-{_slug(dataset)}")
        out.append(Figure(f"Figure 2 ({dataset})", path,
                          "Adversarial accuracy after `cal` at each training temperature minus that at T = 1, for "
                          "the same method; error bars combine the two standard deviations over seeds."))
    return out or [Missing("Figure 2", "no training method was run at more than one training temperature "
                                       "(including T = 1).")]


def training_length(data: ReportData, folder: Path) -> list:
    """Mean clean confidence and the served − ``cal`` gap of each attack against the steps trained, one
    line per family of models that differ only in training length (the view C4 needs)."""
    from ior.reporting.tables import families_by_dataset, length_families, ordered_by_length, served_minus_cal

    out = []
    for dataset, families, attacks in families_by_dataset(data, length_families):
        # Steps where the training cells recorded them, else epochs (stores from before steps were kept).
        unit = next((u for u in ("step", "epoch") if any(data.trained(g, u)["mean"] for m in families.values()
                                                          for g in m)), None)
        if unit is None:
            out.append(Missing(f"Training length figure ({dataset})", "the training cells recorded neither steps "
                                                                     "nor epochs."))
            continue
        fig, axes = _new_figure(1 + len(attacks))
        styles = _series_styles(len(families))
        for style, members in zip(styles, families.values()):
            members = ordered_by_length(data, members)
            steps = [data.trained(g, unit)["mean"] or np.nan for g in members]
            label = members[0].variant
            conf = [g.mean_confidence() for g in members]
            axes[0].errorbar(steps, [100 * c["mean"] if c["mean"] is not None else np.nan for c in conf],
                             yerr=[100 * (c["std"] or 0.0) for c in conf], marker="o", capsize=3, label=label,
                             **style)
            for ax, attack in zip(axes[1:], attacks):
                gaps = [served_minus_cal(g, attack) for g in members]
                ax.errorbar(steps, [np.nan if s["mean"] is None else s["mean"] for s in gaps],
                            yerr=[s["std"] or 0.0 for s in gaps], marker="o", capsize=3, label=label, **style)
        axes[0].axhline(99.5, color="grey", lw=0.8, ls="--")
        axes[0].set_ylabel("mean clean confidence (%)")
        axes[0].set_title(f"{dataset}: confidence (C4: ≥ 99.5%)")
        for ax, attack in zip(axes[1:], attacks):
            ax.axhline(10, color="grey", lw=0.8, ls="--")
            ax.axhline(0, color="grey", lw=0.8)
            ax.set_ylabel("served − cal (points)")
            ax.set_title(f"{dataset}: {attack} gap (C4: > 10)")
        for ax in axes:
            ax.set_xscale("log")
            ax.set_xlabel("optimizer steps trained" if unit == "step" else "epochs trained")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        path = _save(fig, folder, f"training-length-{_slug(dataset)}")
        out.append(Figure(f"Training length ({dataset})", path,
                          "Per family of models that differ only in how long they trained, served at T_d = 1: mean "
                          "clean confidence and served − `cal` adversarial accuracy per attack against the steps "
                          "trained (mean ± std over seeds); dashed lines mark C4's bars."))
    return out or [Missing("Training length", "no model was trained to more than one length with everything "
                                              "else equal.")]


def _clean_records(data: ReportData, audits) -> list:
    return [r for a in audits for r in data.store.examples(a.key, "clean")]


def _series_styles(n: int) -> list[dict]:
    """``n`` distinguishable line styles: ten colours, then the same colours dashed, dotted, ..."""
    from matplotlib import colormaps

    colors = colormaps["tab10"].colors
    dashes = ["-", "--", ":", "-."]
    return [{"color": colors[i % len(colors)], "linestyle": dashes[(i // len(colors)) % len(dashes)]}
            for i in range(n)]


def figure3(data: ReportData, folder: Path) -> list:
    """Histogram of the logit range (max − min raw logit per test example) of each trained model."""
    out = []
    for dataset in data.datasets:
        by_model = {}
        for g in data.by_dataset(dataset):
            if g.model_group not in by_model or g.serve_temperature == 1:
                by_model[g.model_group] = g
        ranges = {}
        for g in by_model.values():
            records = _clean_records(data, g.audits)
            if records:
                logits = np.array([r["logits"] for r in records], dtype=np.float64)
                ranges[g.label] = logits.max(axis=1) - logits.min(axis=1)
        if not ranges:
            continue
        values = np.concatenate(list(ranges.values()))
        positive = values[values > 0]
        fig, axes = _new_figure(1, width=7.5, height=4.2)
        ax = axes[0]
        if positive.size and positive.max() / max(positive.min(), 1e-12) > 20:
            bins = np.geomspace(max(positive.min(), 1e-6), positive.max() * 1.01, 40)
            ax.set_xscale("log")
        else:
            bins = np.linspace(values.min(), values.max() + 1e-9, 40)
        for (label, r), style in zip(ranges.items(), _series_styles(len(ranges))):
            ax.hist(np.clip(r, bins[0], bins[-1]), bins=bins, histtype="step", linewidth=1.5, label=label, **style)
        ax.set_xlabel("logit range (max − min raw logit)")
        ax.set_ylabel("test examples")
        ax.set_title(dataset)
        ax.legend(fontsize=7, ncol=2)
        path = _save(fig, folder, f"figure3-{_slug(dataset)}")
        out.append(Figure(f"Figure 3 ({dataset})", path,
                          "Raw logits (before any serving temperature), all seeds pooled. The paper finds that "
                          "training at a high temperature widens the logit range."))
    return out or [Missing("Figure 3", "no per-example clean logits in the store.")]


def reliability(data: ReportData, folder: Path, *, per_figure: int = 12) -> list:
    """Reliability diagrams of the served models: accuracy against confidence in 15 equal-width bins."""
    out = []
    for dataset in data.datasets:
        panels = []
        for g in data.by_dataset(dataset):
            records = _clean_records(data, g.audits)
            if records:
                panels.append((g, records))
        for start in range(0, len(panels), per_figure):
            chunk = panels[start:start + per_figure]
            fig, axes = _new_figure(len(chunk), width=3.2, height=3.0, columns=4)
            for ax, (g, records) in zip(axes, chunk):
                confidence = np.array([r["confidence"] for r in records], dtype=np.float64)
                correct = np.array([r["prediction"] == r["label"] for r in records], dtype=np.float64)
                index = np.clip(np.ceil(confidence * N_BINS).astype(int) - 1, 0, N_BINS - 1)
                counts = np.bincount(index, minlength=N_BINS)
                accuracy = np.bincount(index, weights=correct, minlength=N_BINS) / np.maximum(counts, 1)
                mean_conf = np.bincount(index, weights=confidence, minlength=N_BINS) / np.maximum(counts, 1)
                centers = (np.arange(N_BINS) + 0.5) / N_BINS
                filled = counts > 0
                ax.bar(centers[filled], accuracy[filled], width=1 / N_BINS, edgecolor="black", alpha=0.7,
                       label="accuracy")
                ax.plot(mean_conf[filled], accuracy[filled], "r.", label="mean confidence")
                ax.plot([0, 1], [0, 1], "k--", lw=0.8)
                ece = g.calibration("ece")["mean"]
                ax.set_title(f"{row_label(g)}" + ("" if ece is None else f"\nECE {100 * ece:.1f}%"), fontsize=8)
                ax.set_xlim(0, 1)
                ax.set_ylim(0, 1)
                ax.set_xlabel("confidence", fontsize=8)
                ax.set_ylabel("accuracy", fontsize=8)
            part = "" if len(panels) <= per_figure else f"-{start // per_figure + 1}"
            path = _save(fig, folder, f"reliability-{_slug(dataset)}{part}")
            out.append(Figure(f"Reliability diagrams ({dataset}{part})", path,
                              "Clean test examples of every served model, seeds pooled; bars: accuracy per "
                              "confidence bin, red dots: the bin's mean confidence, dashed: perfect calibration."))
    return out or [Missing("Reliability diagrams", "no per-example clean predictions in the store.")]


#: What the training-curve figure draws per epoch: (history key, axis label, log scale).
CURVES = (("train_loss", "mean training loss", False), ("train_accuracy", "training accuracy", False),
          ("last_grad_norm", "gradient norm before normalising (last step)", True))


def _variant(label: str) -> tuple[str, str]:
    """("rt", "standard*") from a training cell's label "rt standard* seed=0" (a model nothing audited)."""
    parts = [p for p in label.split() if not p.startswith("seed=")]
    return parts[0], " ".join(parts[1:]) or parts[0]


def training_curves(data: ReportData, folder: Path) -> list:
    """Per dataset: training loss, training accuracy and gradient norm per epoch, one line per model
    (mean over seeds): how far each model was trained, and whether it fitted."""
    audited = {a.train_key: (g.dataset, g.label) for g in data.groups for a in g.audits}
    curves = defaultdict(lambda: defaultdict(list))
    for cell in data.train_cells:
        history = (cell["result"].get("metrics") or {}).get("history") or []
        if history:
            dataset, variant = audited.get(cell["key"]) or _variant(cell["label"])
            curves[dataset][variant].append(history)
    out = []
    for dataset, variants in curves.items():
        fig, axes = _new_figure(len(CURVES), width=4.6, height=3.4)
        styles = _series_styles(len(variants))
        for (variant, histories), style in zip(sorted(variants.items()), styles):
            epochs = max(len(h) for h in histories)
            for ax, (key, _, _) in zip(axes, CURVES):
                mean = [np.mean(values) if (values := [h[e][key] for h in histories
                                                        if e < len(h) and h[e].get(key) is not None]) else np.nan
                        for e in range(epochs)]
                if not np.all(np.isnan(mean)):
                    ax.plot(range(1, epochs + 1), mean, label=f"{variant} ({len(histories)})", **style)
        for ax, (_, label, log) in zip(axes, CURVES):
            ax.set_xlabel("epoch", fontsize=8)
            ax.set_ylabel(label, fontsize=8)
            if log and ax.lines:
                ax.set_yscale("log")
                ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        axes[0].legend(fontsize=7)
        path = _save(fig, folder, f"training-{_slug(dataset)}")
        out.append(Figure(f"Training curves ({dataset})", path,
                          "Per epoch, mean over seeds (their number in brackets): the training loss (of logits/T "
                          "at training temperature T), the training accuracy on the batches as the method trained "
                          "on them, and the global gradient norm of the epoch's last step before grad-norm "
                          "rescaled it (dotted: 1; below it, normalising enlarges the step)."))
    return out or [Missing("Training curves", "no training cell in the store recorded its per-epoch history.")]
