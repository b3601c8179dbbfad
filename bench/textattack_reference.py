"""Our four recipes next to TextAttack 0.3.11's own, on the same victim and data.

Run from the repository root in our venv::

    .venv/bin/python bench/textattack_reference.py --model runs/minilm-rt-cpu \\
        [--n 200] [--attack dg pwws tf bae] [--serve-temperature 1 0.01] [--engine ours textattack]

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
3. Runs TextAttack in a child process of that venv (``bench/textattack_worker.py``). Only that
   child patches anything: ``nltk.download`` (``WordSwapWordNet.__init__`` calls
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
RECIPES = {"dg": "deepwordbug", "deepwordbug": "deepwordbug", "pwws": "pwws", "tf": "textfooler",
           "textfooler": "textfooler", "bae": "bae"}


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
            [str(venv / "bin" / "python"), str(BENCH / "textattack_worker.py"), str(job_path)],
            env=env, stdout=log, stderr=subprocess.STDOUT, check=True, cwd=str(BENCH.parent),
        )
    return json.loads(Path(job["output"]).read_text())


def substitute_resources(suite, recipe: str) -> dict:
    """Our offline TextFooler/BAE resources, as files TextAttack's components can load.

    TextAttack's ``WordEmbedding`` looks neighbours up in an ``nn_matrix`` (its own counter-fitted
    download ships one; its fallback without one is broken in 0.3.11), so the 50-neighbour table of
    our vectors, ranked by our engine, is written next to them for the worker.
    """
    import numpy as np

    from ior.attacks.recipes.bae_garg_2019 import default_encoder_threshold as bae_threshold
    from ior.attacks.recipes.textfooler_jin_2019 import default_encoder_threshold as tf_threshold
    from ior.data.stopwords import TEXTFOOLER_STOPWORDS
    from ior.resources import pos
    from ior.resources.counterfitted import counterfitted_dir

    resources = suite.resources(recipe)
    encoder, tagger = resources["encoder"], resources["tagger"]
    out = {"pos_module": pos.__file__, "tagger": str(tagger.path), "encoder": encoder.model_path,
           "encoder_max_length": encoder.max_length}
    if recipe == "textfooler":
        vectors = RAW / "counterfitted-nn50"
        if not (vectors / "vectors.npy").is_file():
            embedding = resources["embedding"]
            vectors.mkdir(parents=True, exist_ok=True)
            source = counterfitted_dir()
            for name in ("vectors.npy", "words.txt"):
                (vectors / name).write_bytes((source / name).read_bytes())
            nn = embedding.nearest_neighbours_all(50)
            np.save(vectors / "nn.npy", np.concatenate([np.arange(len(nn))[:, None], nn], axis=1))
        out.update(vectors=str(vectors), textfooler_threshold=tf_threshold(encoder),
                   textfooler_stopwords=sorted(TEXTFOOLER_STOPWORDS))
    else:
        out.update(masked_lm=str(resources["masked_lm"].name), bae_threshold=bae_threshold(encoder))
    return out


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
        "resource_model_seconds": row["resource_model_seconds"],
        "resource_model_cpu_seconds": row["resource_model_cpu_seconds"],
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


def merge_rows(path: Path, rows: list) -> None:
    """Write ``rows`` into the results list at ``path`` atomically, replacing earlier rows of the same
    recipe and serving temperature and keeping the others (other recipes, the audit record)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = {(r["recipe"], r["serve_temperature"]) for r in rows}
    kept = json.loads(path.read_text()) if path.exists() else []
    merged = [r for r in kept if (r.get("recipe"), r.get("serve_temperature")) not in mine] + rows
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(merged, indent=2) + "\n")
    tmp.replace(path)


def fingerprint(payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _fmt(value, spec, width):
    return f"{value:{width}{spec}}" if value is not None else f"{'n/a':>{width}}"


def format_table(rows) -> str:
    head = (
        f"{'recipe':<11} {'T_d':>5} {'n':>4} | {'adv_acc ours':>12} {'TA':>6} {'diff':>6} | {'agree':>6} | "
        f"{'wall s ours':>11} {'TA':>7} {'speedup':>7} | {'bound':>6} {'/bound':>6} {'aux':>6} {'/(b+aux)':>8} | "
        f"{'q ours':>7} {'TA':>7} {'TA dist':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        o, t = r["ours"], r["textattack"]
        lines.append(
            f"{r['recipe']:<11} {r['serve_temperature']:>5g} {r['n']:>4} | "
            f"{100 * o['adv_acc']:>11.1f}% {100 * t['adv_acc']:>5.1f}% "
            f"{100 * (o['adv_acc'] - t['adv_acc']):>+6.1f} | {100 * r['outcome_agreement']:>5.1f}% | "
            f"{o['seconds']:>11.1f} {t['seconds']:>7.1f} {r['speedup']:>6.2f}x | "
            f"{r['query_bound_seconds']:>6.1f} {r['wall_over_query_bound']:>6.2f} {r['resource_model_seconds']:>6.1f} "
            f"{r['wall_over_model_bound']:>8.2f} | {o['queries']:>7} {t['queries']:>7} {t['distinct_texts']:>7}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
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
                    if recipe in ("textfooler", "bae"):
                        job["resources"] = substitute_resources(suite, recipe)
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
                # Wall time: each engine ran alone on one core (one torch thread, nothing else running).
                "speedup": theirs["seconds"] / ours["seconds"],
                "speedup_cpu": (theirs["cpu_seconds"] / ours["cpu_seconds"]
                                if theirs.get("cpu_seconds") and ours.get("cpu_seconds") else None),
                "query_bound_seconds": ours["query_bound"]["seconds"],
                "query_bound_cpu_seconds": ours["query_bound"].get("cpu_seconds"),
                "query_bound_batch_size": ours["query_bound"]["batch_size"],
                "wall_over_query_bound": ours["seconds"] / ours["query_bound"]["seconds"],
                "resource_model_seconds": ours.get("resource_model_seconds", 0.0),
                "wall_over_model_bound": ours["seconds"] / (ours["query_bound"]["seconds"]
                                                            + ours.get("resource_model_seconds", 0.0)),
                "details": {**comparison, **clean_logit_check(theirs, base, texts)},
            })
    if not rows:
        return 0
    print(f"model {args.model} (max_length {base.max_length}); rt test, first {len(texts)}; "
          f"ours seed {args.seed}; TextAttack {versions['textattack']} (seed {TA_SEED}), "
          f"transformers {versions['transformers']}, torch {versions['torch']}")
    print(format_table(rows))
    print("adv_acc: still-correct fraction of all n; agree: same outcome (succeeded/failed/skipped); wall s: the attack "
          "loop, one torch thread,\neach engine alone on one core; speedup: TA wall / ours wall; bound: wall s of ours' "
          "query bound (the victim's distinct texts,\nlength-sorted, best batch size); /bound: ours wall / bound; aux: "
          "wall s inside the attack's own networks (sentence encoder,\nmasked LM); /(b+aux): ours wall / (bound + aux); "
          "q: queries as each engine counts them; TA dist: distinct texts per example, summed.")
    for r in rows:
        d = r["details"]
        print(f"{r['recipe']} T_d={r['serve_temperature']:g}: {d['outcome_pairs']}; TA successes "
              f"confirmed on our classifier {d['textattack_successes_confirmed']}; both succeeded with the "
              f"same text {d['both_succeeded_same_text']}; clean logits max |diff| "
              f"{d['max_abs_logit_diff']:.2e}; load average ours {r['ours']['load_average_1min']}, "
              f"TA {r['textattack']['load_average_1min']}")
    merge_rows(args.out, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
