"""Our DeepWordBug and PWWS next to TextAttack 0.3.11's own recipes, on the same victim and data.

Run from the repository root in our venv::

    .venv/bin/python bench/textattack_reference.py --model runs/minilm-rt-cpu \\
        [--n 200] [--attack dg pwws] [--serve-temperature 1 0.01] [--engine ours textattack]

What it does:

1. Creates an isolated venv ``bench/.venv-textattack`` (once): ``torch==2.13.0`` first (the
   local CPU build), then ``textattack==0.3.11`` and ``transformers<5`` with torch pinned in the
   same command, so pip cannot replace it with a CUDA build.
2. Lays out offline data for it: ``<venv>/nltk_data/corpora/stopwords/english`` written from
   ``ior.data.stopwords.ENGLISH_STOPWORDS`` (NLTK's classic 179 words; TextAttack turns the list
   into a set, so the order of the file does not matter) and our prepared WordNet
   (``<cache>/nltk_data``), both on ``NLTK_DATA``; TextAttack's cache (``TA_CACHE_DIR``) inside
   the venv folder with its post-install marker pre-created, so ``import textattack`` does not
   call ``nltk.download``; ``HF_HUB_OFFLINE=1``, ``TRANSFORMERS_OFFLINE=1``.
3. Runs TextAttack in a child process of that venv (this file with ``--worker``). Only that child
   patches anything: ``nltk.download`` (``WordSwapWordNet.__init__`` calls
   ``nltk.download("omw-1.4")``) becomes a no-op, and every socket connection raises and is
   counted, so a network attempt cannot go unnoticed. The victim is the model folder loaded with
   transformers<5 through ``HuggingFaceModelWrapper``, tokenizer ``model_max_length`` set to the
   model's training ``max_length`` (TextAttack pads and truncates to ``model_max_length``; ours
   truncates at ``max_length``), logits divided by T_d in float32.
4. Runs ours in this process: ``TextAttackSuite`` on ``TemperatureScaled(TextClassifier, T_d)``
   with a fresh logits cache per run.
5. Compares per example (outcome succeeded/failed/skipped, adversarial accuracy), re-scores
   TextAttack's adversarial texts on our classifier, prints a side-by-side table and writes
   ``bench/results/textattack_reference.json``. Raw per-example results go to
   ``bench/results/textattack_reference/`` and are reused by later runs with the same settings
   (``--rerun`` to redo them).

Queries: TextAttack counts every text it scores, cache hits and repeats included; ours counts the
distinct texts of each example. Both are reported, plus, for TextAttack, the distinct texts of
each example (recorded in its model wrapper), which is what ours counts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DEFAULT_VENV = BENCH / ".venv-textattack"
RESULTS = BENCH / "results"
RAW = RESULTS / "textattack_reference"
TORCH = "torch==2.13.0"
TEXTATTACK = "textattack==0.3.11"
TRANSFORMERS = "transformers<5"
TA_POST_INSTALL_MARKER = "post_install_check_3"  # textattack.shared.utils.install, 0.3.11
TA_SEED = 765  # textattack.AttackArgs.random_seed default, set by the Attacker before attacking
RECIPES = {"dg": "deepwordbug", "deepwordbug": "deepwordbug", "pwws": "pwws"}


# --------------------------------------------------------------------------------------------
# Worker: runs inside the TextAttack venv. Imports nothing from ior.
# --------------------------------------------------------------------------------------------


def _guard_network(log):
    """Make every outgoing connection fail loudly and count it."""
    import socket

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2])[:200])
        log(f"network attempt refused: {attempts[-1]}")
        raise OSError("network disabled in the TextAttack bench worker")

    socket.socket.connect = lambda self, *a, **k: refuse(*a, **k)
    socket.socket.connect_ex = lambda self, *a, **k: refuse(*a, **k)
    socket.create_connection = refuse
    return attempts


def worker(job_path: Path) -> int:
    job = json.loads(job_path.read_text())
    log_lines = []

    def log(message):
        log_lines.append(message)
        print(f"[textattack worker] {message}", file=sys.stderr, flush=True)

    attempts = _guard_network(log)
    import nltk

    downloads = []

    def no_download(*args, **kwargs):
        downloads.append(str(args[0]) if args else str(kwargs))
        log(f"nltk.download({downloads[-1]!r}) skipped (offline; data prepared under NLTK_DATA)")
        return True

    nltk.download = no_download

    started = time.perf_counter()
    import random

    import numpy as np
    import torch
    import transformers

    import textattack
    from textattack.attack_recipes import DeepWordBugGao2018, PWWSRen2019
    from textattack.attack_results import FailedAttackResult, SkippedAttackResult, SuccessfulAttackResult
    from textattack.models.wrappers import HuggingFaceModelWrapper

    import_seconds = time.perf_counter() - started
    torch.set_num_threads(int(job["threads"]))

    class ServedWrapper(HuggingFaceModelWrapper):
        """HuggingFace wrapper whose logits are divided by the serving temperature (float32)."""

        def __init__(self, model, tokenizer, temperature):
            super().__init__(model, tokenizer)
            self.temperature = torch.tensor(temperature, dtype=torch.float32)
            self.sent: list[str] = []

        def __call__(self, text_input_list):
            self.sent.extend(text_input_list)
            logits = super().__call__(text_input_list)
            return logits.float() / self.temperature

    model = transformers.AutoModelForSequenceClassification.from_pretrained(job["model"])
    model.eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(job["model"])
    tokenizer.model_max_length = int(job["max_length"])
    wrapper = ServedWrapper(model, tokenizer, float(job["serve_temperature"]))
    examples = json.loads(Path(job["examples"]).read_text())
    texts, labels = examples["texts"], examples["labels"]

    # Clean logits at T = 1, for the driver to check both venvs see the same victim.
    clean = []
    raw_wrapper = HuggingFaceModelWrapper(model, tokenizer)
    for start in range(0, len(texts), 32):
        clean.extend(raw_wrapper(texts[start : start + 32]).float().tolist())

    build_start = time.perf_counter()
    recipe = {"deepwordbug": DeepWordBugGao2018, "pwws": PWWSRen2019}[job["recipe"]]
    attack = recipe.build(wrapper)
    build_seconds = time.perf_counter() - build_start

    # What textattack.Attacker does before attacking (AttackArgs.random_seed = 765).
    random.seed(TA_SEED)
    np.random.seed(TA_SEED)
    torch.manual_seed(TA_SEED)

    records = []
    load_before = os.getloadavg()[0]
    attack_start, cpu_start = time.perf_counter(), time.process_time()
    for index, (text, label) in enumerate(zip(texts, labels)):
        wrapper.sent = []
        t0, c0 = time.perf_counter(), time.process_time()
        result = attack.attack(text, int(label))
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
        if isinstance(result, SuccessfulAttackResult):
            outcome = "succeeded"
        elif isinstance(result, FailedAttackResult):
            outcome = "failed"
        elif isinstance(result, SkippedAttackResult):
            outcome = "skipped"
        else:
            outcome = type(result).__name__
        final = result.perturbed_result
        records.append(
            {
                "index": index,
                "label": int(label),
                "outcome": outcome,
                "original_text": result.original_result.attacked_text.text,
                "adversarial_text": final.attacked_text.text,
                "original_output": int(result.original_result.output),
                "adversarial_output": int(final.output),
                "original_probs": result.original_result.raw_output.tolist(),
                "adversarial_probs": final.raw_output.tolist(),
                "queries": int(final.num_queries),
                "distinct_texts": len(set(wrapper.sent)),
                "texts_sent": len(wrapper.sent),
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
            }
        )
        if (index + 1) % 25 == 0:
            done = sum(r["outcome"] == "succeeded" for r in records)
            log(
                f"{job['recipe']} T={job['serve_temperature']:g}: {index + 1}/{len(texts)} "
                f"({done} succeeded, {time.perf_counter() - attack_start:.0f} s)"
            )
    attack_seconds = time.perf_counter() - attack_start
    attack_cpu_seconds = time.process_time() - cpu_start
    out = {
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "engine": "textattack",
        "recipe": job["recipe"],
        "serve_temperature": job["serve_temperature"],
        "versions": {
            "textattack": getattr(textattack, "__version__", None) or _dist_version("textattack"),
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "nltk": nltk.__version__,
            "numpy": np.__version__,
        },
        "stopwords": len(attack.pre_transformation_constraints[1].stopwords),
        "seconds": attack_seconds,
        "cpu_seconds": attack_cpu_seconds,
        "build_seconds": build_seconds,
        "import_seconds": import_seconds,
        "torch_threads": torch.get_num_threads(),
        "network_attempts": attempts,
        "nltk_downloads_skipped": downloads,
        "clean_logits": clean,
        "records": records,
    }
    Path(job["output"]).write_text(json.dumps(out) + "\n")
    return 0


def _dist_version(name):
    from importlib.metadata import version

    return version(name)


# --------------------------------------------------------------------------------------------
# Driver: runs in our venv.
# --------------------------------------------------------------------------------------------


def pip(venv: Path, *args: str) -> None:
    command = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", *args]
    print("$ " + " ".join(command), file=sys.stderr)
    subprocess.run(command, check=True)


def setup_venv(venv: Path) -> dict:
    """Create the TextAttack venv if needed; return the installed versions."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = [str(python), "-c", "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) "
             "for p in ('torch', 'textattack', 'transformers', 'nltk', 'numpy', 'tokenizers')}))"]
    done = subprocess.run(probe, capture_output=True, text=True)
    if done.returncode != 0:
        constraints = venv / "constraints.txt"
        constraints.write_text(TORCH + "\n")
        pip(venv, TORCH)  # first: the local CPU build
        pip(venv, "-c", str(constraints), TORCH, TEXTATTACK, TRANSFORMERS)
        done = subprocess.run(probe, capture_output=True, text=True, check=True)
    versions = json.loads(done.stdout)
    if not versions["torch"].startswith("2.13.0") or versions["textattack"] != "0.3.11":
        raise RuntimeError(f"unexpected versions in {venv}: {versions}")
    if not versions["transformers"].startswith("4."):
        raise RuntimeError(f"transformers<5 expected in {venv}, got {versions['transformers']}")
    return versions


def prepare_offline_data(venv: Path) -> dict:
    """Stopwords and TextAttack's cache marker inside the venv folder; the environment to use."""
    from ior.data.cache import cache_dir
    from ior.data.stopwords import ENGLISH_STOPWORDS
    from ior.data.wordnet import wordnet_dir

    nltk_data = venv / "nltk_data"
    stopwords = nltk_data / "corpora" / "stopwords" / "english"
    stopwords.parent.mkdir(parents=True, exist_ok=True)
    # TextAttack builds set(nltk.corpus.stopwords.words("english")): order is irrelevant,
    # contents must be the 179 words our engine uses.
    stopwords.write_text("".join(f"{w}\n" for w in sorted(ENGLISH_STOPWORDS)))
    if not (wordnet_dir() / "index.noun").is_file():
        raise RuntimeError("WordNet is not prepared; run `ior data prepare`")
    ta_cache = venv / "textattack_cache"
    ta_cache.mkdir(parents=True, exist_ok=True)
    (ta_cache / TA_POST_INSTALL_MARKER).touch()
    env = dict(os.environ)
    env.update(
        NLTK_DATA=os.pathsep.join([str(nltk_data), str(cache_dir() / "nltk_data")]),
        TA_CACHE_DIR=str(ta_cache),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    env.pop("PYTHONPATH", None)
    return env


def run_textattack(venv, env, job: dict, job_path: Path, log_path: Path) -> dict:
    job_path.write_text(json.dumps(job))
    with open(log_path, "w") as log:
        subprocess.run(
            [str(venv / "bin" / "python"), str(Path(__file__).resolve()), "--worker", str(job_path)],
            env=env, stdout=log, stderr=subprocess.STDOUT, check=True, cwd=str(BENCH.parent),
        )
    return json.loads(Path(job["output"]).read_text())


def run_ours(base, suite, recipe, temperature, texts, labels) -> dict:
    import attack_speed

    from ior.attacks.results import Outcome

    row = attack_speed.run_attack(suite, recipe, base, texts, labels, temperature, with_replay=False)
    records = []
    for index, r in enumerate(row.pop("results")):
        records.append(
            {
                "index": index,
                "label": r.label,
                "outcome": r.outcome.value,
                "original_text": r.original_text,
                "adversarial_text": r.adversarial_text,
                "original_output": r.original_prediction,
                "adversarial_output": r.adversarial_prediction,
                "original_true_prob": r.original_true_prob,
                "adversarial_true_prob": r.adversarial_true_prob,
                "queries": r.queries,
                "succeeded": r.outcome is Outcome.SUCCEEDED,
            }
        )
    return {
        "engine": "ours",
        "recipe": recipe,
        "serve_temperature": temperature,
        "seconds": row["wall_seconds"],
        "cpu_seconds": row["cpu_seconds"],
        "query_bound": row["query_bound"],
        "network_texts": row["network_texts"],
        "load_average_1min": row["load_average_1min"],
        "records": records,
    }


def adversarial_accuracy(records) -> float:
    return sum(r["outcome"] == "failed" for r in records) / len(records)


def compare(ours, theirs, classifier) -> dict:
    """Per-example agreement, and TextAttack's successes re-scored on our classifier."""
    import numpy as np

    pairs = list(zip(ours["records"], theirs["records"]))
    classes = {}
    for a, b in pairs:
        key = f"ours={a['outcome']}/textattack={b['outcome']}"
        classes[key] = classes.get(key, 0) + 1
    agree = sum(a["outcome"] == b["outcome"] for a, b in pairs)
    # Does every TextAttack success really fool the victim (argmax of fresh logits)?
    succ = [b for b in theirs["records"] if b["outcome"] == "succeeded"]
    fooled = 0
    if succ:
        logits = classifier.logits_uncached([b["adversarial_text"] for b in succ])
        fooled = int(sum(int(np.argmax(l)) != b["label"] for l, b in zip(logits, succ)))
    same_text = sum(
        a["outcome"] == b["outcome"] == "succeeded" and a["adversarial_text"] == b["adversarial_text"]
        for a, b in pairs
    )
    return {
        "outcome_agreement": agree / len(pairs),
        "outcome_pairs": dict(sorted(classes.items())),
        "both_succeeded_same_text": same_text,
        "textattack_successes_confirmed": f"{fooled}/{len(succ)}",
    }


def clean_logit_check(theirs, classifier, texts) -> dict:
    import numpy as np

    ours = classifier.logits_uncached(texts)
    ta = np.asarray(theirs["clean_logits"], dtype=np.float32)
    return {
        "max_abs_logit_diff": float(np.abs(ours - ta).max()),
        "argmax_agreement": float((ours.argmax(1) == ta.argmax(1)).mean()),
    }


def fingerprint(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _fmt(value, spec, width):
    return f"{value:{width}{spec}}" if value is not None else f"{'n/a':>{width}}"


def format_table(rows) -> str:
    head = (
        f"{'recipe':<11} {'T_d':>5} {'n':>4} | {'adv_acc ours':>12} {'TA':>6} {'diff':>6} | "
        f"{'agree':>6} | {'CPU s ours':>10} {'TA':>7} {'speedup':>7} {'bound':>6} | "
        f"{'wall s ours':>11} {'TA':>7} | {'q ours':>7} {'TA':>7} {'TA dist':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        o, t = r["ours"], r["textattack"]
        speedup = f"{r['speedup']:>6.2f}x" if r["speedup"] is not None else f"{'n/a':>7}"
        lines.append(
            f"{r['recipe']:<11} {r['serve_temperature']:>5g} {r['n']:>4} | "
            f"{100 * o['adv_acc']:>11.1f}% {100 * t['adv_acc']:>5.1f}% "
            f"{100 * (o['adv_acc'] - t['adv_acc']):>+6.1f} | {100 * r['outcome_agreement']:>5.1f}% | "
            f"{_fmt(o['cpu_seconds'], '.1f', 10)} {_fmt(t['cpu_seconds'], '.1f', 7)} {speedup} "
            f"{r['query_bound_cpu_seconds']:>6.1f} | {o['seconds']:>11.1f} {t['seconds']:>7.1f} | "
            f"{o['queries']:>7} {t['queries']:>7} {t['distinct_texts']:>7}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--worker"]:
        return worker(Path(argv[1]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="runs/minilm-rt-cpu")
    parser.add_argument("--n", type=int, default=200, help="first N rt test examples (200)")
    parser.add_argument("--attack", nargs="+", default=["dg", "pwws"])
    parser.add_argument("--serve-temperature", nargs="+", type=float, default=[1.0, 0.01])
    parser.add_argument("--engine", nargs="+", default=["ours", "textattack"],
                        choices=["ours", "textattack"], help="engines to (re)run; others are read from raw results")
    parser.add_argument("--seed", type=int, default=0, help="our engine's seed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in both engines (1)")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--rerun", action="store_true", help="ignore raw results of earlier runs")
    parser.add_argument("--setup-only", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "textattack_reference.json")
    args = parser.parse_args(argv)

    versions = setup_venv(args.venv)
    env = prepare_offline_data(args.venv)
    print(f"textattack venv {args.venv}: {versions}", file=sys.stderr)
    if args.setup_only:
        return 0

    sys.path.insert(0, str(BENCH))
    import torch

    torch.set_num_threads(args.threads)
    env["OMP_NUM_THREADS"] = str(args.threads)
    from ior.attacks.suite import TextAttackSuite
    from ior.data.loaders import load_text_dataset
    from ior.data.wordnet import load_wordnet
    from ior.models.victim import TextClassifier, weights_sha256

    data = load_text_dataset("rt", "test").head(args.n)
    texts, labels = list(data.texts), list(data.labels)
    base = TextClassifier.from_pretrained(args.model)
    RAW.mkdir(parents=True, exist_ok=True)
    examples = RAW / f"examples-n{len(texts)}.json"
    examples.write_text(json.dumps({"texts": texts, "labels": labels, "fingerprint": data.fingerprint()}))
    suite = TextAttackSuite(wordnet=load_wordnet(), seed=args.seed, progress=False)
    settings = {
        "model_weights": weights_sha256(args.model),
        "max_length": base.max_length,
        "data": data.fingerprint(),
        "seed": args.seed,
        "threads": args.threads,
    }

    rows = []
    for name in args.attack:
        recipe = RECIPES[name]
        for temperature in args.serve_temperature:
            key = fingerprint({**settings, "recipe": recipe, "T": temperature})
            runs = {}
            for engine in ("ours", "textattack"):
                path = RAW / f"{engine}-{recipe}-T{temperature:g}-{key}.json"
                if path.exists() and not (args.rerun and engine in args.engine):
                    runs[engine] = json.loads(path.read_text())
                    continue
                if engine not in args.engine:
                    continue
                print(f"running {engine} {recipe} T_d={temperature:g} on {len(texts)} examples",
                      file=sys.stderr, flush=True)
                if engine == "ours":
                    runs[engine] = run_ours(base, suite, recipe, temperature, texts, labels)
                else:
                    job = {"model": str(Path(args.model).resolve()), "max_length": base.max_length,
                           "recipe": recipe, "serve_temperature": temperature, "threads": args.threads,
                           "examples": str(examples), "output": str(path)}
                    runs[engine] = run_textattack(args.venv, env, job, path.with_suffix(".job"),
                                                  path.with_suffix(".log"))
                path.write_text(json.dumps(runs[engine]) + "\n")
            if len(runs) < 2:
                print(f"skipping {recipe} T_d={temperature:g}: missing {set(('ours', 'textattack')) - set(runs)}",
                      file=sys.stderr)
                continue
            ours, theirs = runs["ours"], runs["textattack"]
            comparison = compare(ours, theirs, base)
            rows.append({
                "recipe": recipe,
                "serve_temperature": temperature,
                "n": len(texts),
                "ours": {
                    "adv_acc": adversarial_accuracy(ours["records"]),
                    "seconds": ours["seconds"],
                    "cpu_seconds": ours.get("cpu_seconds"),
                    "queries": sum(r["queries"] for r in ours["records"]),
                    "load_average_1min": ours["load_average_1min"],
                },
                "textattack": {
                    "adv_acc": adversarial_accuracy(theirs["records"]),
                    "seconds": theirs["seconds"],
                    "cpu_seconds": theirs.get("cpu_seconds"),
                    "queries": sum(r["queries"] for r in theirs["records"]),
                    "distinct_texts": sum(r["distinct_texts"] for r in theirs["records"]),
                    "load_average_1min": theirs.get("load_average_1min"),
                    "versions": theirs["versions"],
                    "stopwords": theirs["stopwords"],
                    "network_attempts": len(theirs["network_attempts"]),
                    "nltk_downloads_skipped": theirs["nltk_downloads_skipped"],
                },
                "outcome_agreement": comparison["outcome_agreement"],
                # CPU time: both sides ran with one torch thread on a shared machine, where
                # wall time mostly measures the other jobs.
                "speedup": (theirs["cpu_seconds"] / ours["cpu_seconds"]
                            if theirs.get("cpu_seconds") and ours.get("cpu_seconds") else None),
                "speedup_wall": theirs["seconds"] / ours["seconds"],
                "query_bound_seconds": ours["query_bound"]["seconds"],
                "query_bound_cpu_seconds": ours["query_bound"].get("cpu_seconds"),
                "query_bound_batch_size": ours["query_bound"]["batch_size"],
                "details": {**comparison, **clean_logit_check(theirs, base, texts)},
            })
    if not rows:
        return 0
    print(f"model {args.model} (max_length {base.max_length}); rt test, first {len(texts)}; "
          f"ours seed {args.seed}; TextAttack {versions['textattack']} (seed {TA_SEED}), "
          f"transformers {versions['transformers']}, torch {versions['torch']}")
    print(format_table(rows))
    print("adv_acc: still-correct fraction of all n; agree: same outcome (succeeded/failed/skipped); "
          "CPU s: process CPU time of the attack\n(1 torch thread each); speedup: TA CPU s / ours CPU s; "
          "bound: CPU s of ours' query bound; q: queries as each engine counts them;\nTA dist: distinct "
          "texts per example, summed (what ours counts).")
    for r in rows:
        d = r["details"]
        print(f"{r['recipe']} T_d={r['serve_temperature']:g}: {d['outcome_pairs']}; TA successes "
              f"confirmed on our classifier {d['textattack_successes_confirmed']}; both succeeded with the "
              f"same text {d['both_succeeded_same_text']}; clean logits max |diff| "
              f"{d['max_abs_logit_diff']:.2e}; load average ours {r['ours']['load_average_1min']}, "
              f"TA {r['textattack']['load_average_1min']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
