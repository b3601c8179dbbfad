"""The `make demo` audit at scale: one process, `--workers 2`, a local Ray cluster, `--runtime onnx`,
and `opt` with and without the plateau stop, each timed alone and compared with the one-process run.

    .venv/bin/python bench/audit_scale.py --model runs/minilm-rt-cpu \
        --json bench/results/audit_scale.json

Each variant is the `make demo` audit command (three serving temperatures, DeepWordBug and PWWS, 200
rt test sentences, `opt` on 100 validation ones) run as a subprocess into its own folder, wall time
measured around it. The reference is `--workers 1 --runtime torch` (default `opt` stop). For every
other variant: are the numbers of report.json the same (models without elapsed times), and what share
of the attacked examples (examples.jsonl, robust or not) agree. The Ray variant starts a local cluster
(`ray start --head --num-cpus 2`), joins it with `--address auto` and stops it afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IOR = str(Path(sys.executable).with_name("ior"))
RAY = str(Path(sys.executable).with_name("ray"))

VARIANTS = {
    "workers-1": [],
    "workers-2": ["--workers", "2"],
    "ray-2": ["--workers", "2", "--executor", "ray", "--address", "auto"],
    "onnx": ["--runtime", "onnx"],
    "onnx-workers-2": ["--runtime", "onnx", "--workers", "2"],
    "maxiter-workers-2": ["--opt-stop", "maxiter", "--workers", "2"],
}


def demo_audit(model: str, n: int, out: Path) -> list[str]:
    return [IOR, "audit", "--model", model, "--dataset", "rt", "--serve-temperature", "1", "0.01", "1e6",
            "--names", "baseline", "up-conf", "down-conf", "--attack", "deepwordbug", "pwws", "--n-examples", str(n),
            "--out", str(out), "--no-progress"]


def numbers(folder: Path) -> list:
    report = json.loads((folder / "report.json").read_text())
    for model in report["models"]:
        model.pop("elapsed_seconds")
    return report["models"]


def outcomes(folder: Path) -> list:
    return [(e["model"], e["attack"], e["stage"], e["index"], e["robust"])
            for e in map(json.loads, (folder / "examples.jsonl").read_text().splitlines())]


def opt_runs(folder: Path) -> dict:
    return {m["name"]: len(m["opt"]["evaluations"]) for m in numbers(folder) if m.get("opt")}


def run_variant(name: str, extra: list, args) -> dict:
    out = args.work / name
    env = dict(os.environ, OMP_NUM_THREADS="1")  # one thread per process: the comparison is per core
    if name.startswith("ray"):
        subprocess.run([RAY, "start", "--head", "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats"],
                       check=True, capture_output=True, env=env)
    try:
        started = time.perf_counter()
        done = subprocess.run(demo_audit(args.model, args.n, out) + extra, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - started
    finally:
        if name.startswith("ray"):
            subprocess.run([RAY, "stop", "--force"], capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed ({done.returncode}): {done.stderr[-2000:]}")
    print(f"{name}: {seconds:.0f} s", flush=True)
    return {"seconds": seconds, "args": extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/minilm-rt-cpu")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--work", type=Path, default=Path("/tmp/ior-audit-scale"), help="audit output folders")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = {}
    if args.json and args.json.is_file():
        rows = json.loads(args.json.read_text()).get("variants", {})
    for name in args.variants:
        rows[name] = run_variant(name, VARIANTS[name], args)
    reference = args.work / "workers-1"
    base = rows["workers-1"]["seconds"]
    ref_numbers, ref_outcomes = numbers(reference), outcomes(reference)
    for name, row in rows.items():
        folder = args.work / name
        if not (folder / "report.json").is_file():
            continue
        same = sum(a == b for a, b in zip(outcomes(folder), ref_outcomes))
        opt_gap = max(abs(a["opt"] - b["opt"]) for m, r in zip(numbers(folder), ref_numbers)
                      for a, b in zip(m["attacks"].values(), r["attacks"].values()) if a["opt"] is not None)
        row.update(speedup=base / row["seconds"], same_report_numbers=numbers(folder) == ref_numbers,
                   outcome_agreement=same / len(ref_outcomes), n_outcomes=len(ref_outcomes),
                   opt_attack_runs=opt_runs(folder), max_opt_accuracy_difference_points=100 * opt_gap)
        print(f"{name:18s} {row['seconds']:6.0f} s  ×{row['speedup']:.2f}  same numbers: "
              f"{row['same_report_numbers']}  outcomes agree: {100 * row['outcome_agreement']:.2f}%  "
              f"opt runs: {row['opt_attack_runs']}  max |Δ opt| {row['max_opt_accuracy_difference_points']:.1f} pt")
    if args.json:
        from ior.data.cache import atomic_write_text

        atomic_write_text(args.json, json.dumps({"model": args.model, "n": args.n, "variants": rows}, indent=2))


if __name__ == "__main__":
    main()
