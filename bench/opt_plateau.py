"""`opt` with the plateau stop against the paper's full search, on the Q(T) a sweep store recorded.

Every audit cell of a store that ran `opt` recorded each evaluation (T, Q(T)) in order. The search is
deterministic (Q(T) is a seeded attack on a fixed validation subset; Brent's next T depends only on
the values so far), so the plateau search on the same model visits the same temperatures in the same
order and stops somewhere along that sequence: replaying the record tells how many attack runs it
saves and which T it returns, without re-running them. When it returns today's T, the test-set attack
after `opt` is the same run and its adversarial accuracy is unchanged; when it does not, this script
says so and the row needs a real re-run (none did on our stores).

    .venv/bin/python bench/opt_plateau.py results/repro-cpu results/repro-images-cpu \
        --json bench/results/opt_plateau.json
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
from pathlib import Path

from ior.calibration.adversarial_temperature import AdversarialTemperatureSearch
from ior.data.cache import atomic_write_text


def opt_records(store: Path):
    """(cell label, opt summary, test adversarial accuracy after opt per attack) of every audit cell."""
    db = sqlite3.connect(f"file:{store / 'runs.sqlite'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT key, label, result FROM cells WHERE kind = 'audit' AND result IS NOT NULL "
                          "ORDER BY completed_at").fetchall()
        for key, label, result in rows:
            audit = json.loads(result)
            opt = audit.get("opt") or (audit.get("model") or {}).get("opt")
            if not opt:
                continue
            after = {r[0]: r[1] for r in db.execute(
                "SELECT attack, adversarial_accuracy FROM results WHERE cell = ? AND piercing = 'opt'", (key,))}
            yield label, opt, after
    finally:
        db.close()


def report_records(path: Path):
    """The same from an `ior audit` report.json (run with `--opt-stop maxiter` to have the full search)."""
    for model in json.loads(path.read_text())["models"]:
        if model.get("opt"):
            yield model["name"], model["opt"], {a: r["opt"] for a, r in model["attacks"].items()}


def replay(opt: dict, *, maxiter: int) -> AdversarialTemperatureSearch:
    recorded = [(math.log10(e["temperature"]), e["adversarial_accuracy"]) for e in opt["evaluations"]]

    def q(temperature: float) -> float:
        x = math.log10(temperature)
        for logged, value in recorded:
            if abs(logged - x) < 1e-6:
                return value
        raise LookupError(f"the plateau search asked for T = {temperature:.4g}, which the full search never "
                          "evaluated: the replay cannot answer, re-run this audit")

    return AdversarialTemperatureSearch(maxiter=maxiter).fit(q)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stores", nargs="+", type=Path,
                        help="sweep output folders (holding runs.sqlite) or audit report.json files")
    parser.add_argument("--maxiter", type=int, default=10, help="Brent iterations the stores used (default 10)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()
    rows = []
    for store in args.stores:
        records = report_records(store) if store.suffix == ".json" else opt_records(store)
        for label, opt, after in records:
            search = replay(opt, maxiter=args.maxiter)
            same = math.isclose(search.temperature_, opt["temperature"], rel_tol=1e-6)
            rows.append({"store": store.parent.name if store.suffix == ".json" else store.name, "cell": label, "attack": opt["attack"],
                         "full_runs": len(opt["evaluations"]), "plateau_runs": len(search.evaluations_),
                         "stopped": search.stopped_, "full_temperature": opt["temperature"],
                         "plateau_temperature": search.temperature_,
                         "full_validation_q": opt["validation_adversarial_accuracy"],
                         "plateau_validation_q": search.adversarial_accuracy_, "same_temperature": same,
                         "test_adversarial_accuracy_after_opt": after if same else None})
    print("| store | cell | runs full → plateau | stopped | T full | T plateau | Q_val full / plateau | "
          "test adv. acc. after opt |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        after = r["test_adversarial_accuracy_after_opt"]
        test = ", ".join(f"{a} {100 * v:.1f}" for a, v in sorted(after.items())) + " (unchanged)" \
            if r["same_temperature"] else "different T: re-run"
        print(f"| {r['store']} | {r['cell']} | {r['full_runs']} → {r['plateau_runs']} | {r['stopped']} | "
              f"{r['full_temperature']:.3g} | {r['plateau_temperature']:.3g} | {100 * r['full_validation_q']:.1f} / "
              f"{100 * r['plateau_validation_q']:.1f} | {test} |")
    full, early = sum(r["full_runs"] for r in rows), sum(r["plateau_runs"] for r in rows)
    print(f"\n{len(rows)} opt searches: {full} attack runs → {early} ({early / full:.0%}); "
          f"{sum(not r['same_temperature'] for r in rows)} return a different T")
    if args.json:
        atomic_write_text(args.json, json.dumps({"rows": rows, "full_runs": full, "plateau_runs": early}, indent=2))


if __name__ == "__main__":
    main()
