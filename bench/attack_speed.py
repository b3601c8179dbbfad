"""How fast is our attack engine, and how close to the cost of its model queries?

For each attack, on the first N Rotten Tomatoes test examples and a model served at T_d:

* wall time, examples/min, queries/s and mean queries per attacked example (queries as our
  engine counts them: distinct texts per example, the clean text included);
* the *query bound*: the texts our engine actually sent to the network (recorded by wrapping the
  classifier, distinct over the whole run) are run again with ``TextClassifier.logits_uncached``,
  length-sorted, in batches of the best size among a few probed. No attack can be faster than
  the time its model queries take, so ``wall / query bound`` is the overhead of the engine
  (search, transformations, constraints, bookkeeping) plus what batching loses when the search
  asks for a few texts at a time.

A benchmark, not a test: numbers depend on the machine and its load.

Usage::

    python bench/attack_speed.py --model runs/minilm-rt-cpu [--n 100] [--attack dg pwws]
                                 [--serve-temperature 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

BATCH_SIZES = (8, 16, 32, 64, 128, 256)


class RecordingModel:
    """Pass-through victim that remembers every text it is asked to score, in order."""

    def __init__(self, model):
        self.model = model
        self.texts: list[str] = []
        self.batches: list[list[str]] = []

    @property
    def calls(self) -> int:
        return len(self.batches)

    @property
    def num_labels(self) -> int:
        return self.model.num_labels

    def logits(self, texts):
        texts = list(texts)
        self.texts.extend(texts)
        self.batches.append(texts)
        return self.model.logits(texts)

    def describe(self) -> str:
        return f"recording({getattr(self.model, 'describe', lambda: 'model')()})"


class ResourceModelTimer:
    """Seconds spent in an attack's own networks: the sentence encoder (TextFooler, BAE) and the
    masked LM (BAE). They are not victim queries, so the query bound leaves them out; the bench
    reports them next to it. Loads the resources (and warms the encoder) on creation."""

    def __init__(self, suite, name: str):
        self.seconds = self.cpu_seconds = 0.0
        self._wrapped = []
        name = suite.canonical(name)
        if name not in ("textfooler", "bae"):
            return
        resources = suite.resources(name)
        resources["encoder"].encode(["warm up the encoder"])
        self._wrap(resources["encoder"], "_forward")
        if name == "bae":
            self._wrap(resources["masked_lm"].model, "forward")

    def _wrap(self, owner, attribute: str) -> None:
        inner = getattr(owner, attribute)

        def timed(*args, **kwargs):
            start, cpu_start = time.perf_counter(), time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.cpu_seconds += time.process_time() - cpu_start

        setattr(owner, attribute, timed)
        self._wrapped.append((owner, attribute))

    def close(self) -> None:
        for owner, attribute in self._wrapped:
            delattr(owner, attribute)  # the class's method again
        self._wrapped = []


def fresh_classifier(base):
    """A new ``TextClassifier`` around ``base``'s network and tokenizer, with an empty cache."""
    from ior.models.victim import TextClassifier

    return TextClassifier(
        base.model,
        base.tokenizer,
        max_length=base.max_length,
        batch_size=base.batch_size,
        label_names=base.label_names,
        name=base.name,
        weights_hash=base.weights_hash,
    )


def query_bound(classifier, texts, *, batch_sizes=BATCH_SIZES, probe_size=512) -> dict:
    """Seconds to run the distinct ``texts`` through ``classifier.logits_uncached``.

    The batch size is chosen by timing each of ``batch_sizes`` on an evenly spread probe of at
    most ``probe_size`` texts (after one warm-up pass); ``logits_uncached`` sorts by length.
    """
    distinct = list(dict.fromkeys(texts))
    if not distinct:
        return {"seconds": 0.0, "cpu_seconds": 0.0, "batch_size": None, "texts": 0, "probe_cpu_seconds": {}}
    step = max(1, len(distinct) // probe_size)
    probe = distinct[::step][:probe_size]
    saved = classifier.batch_size
    try:
        classifier.batch_size = max(batch_sizes)
        classifier.logits_uncached(probe[:64])  # warm-up (allocator, kernels)
        probe_seconds = {}
        for size in batch_sizes:
            classifier.batch_size = size
            start = time.process_time()  # CPU time: robust to other jobs on a shared machine
            classifier.logits_uncached(probe)
            probe_seconds[size] = time.process_time() - start
        best = min(probe_seconds, key=probe_seconds.get)
        classifier.batch_size = best
        start, cpu_start = time.perf_counter(), time.process_time()
        classifier.logits_uncached(distinct)
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start
    finally:
        classifier.batch_size = saved
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "batch_size": best,
        "texts": len(distinct),
        "probe_texts": len(probe),
        "probe_cpu_seconds": {str(k): round(v, 4) for k, v in probe_seconds.items()},
    }


def replay(classifier, batches) -> dict:
    """Seconds to run again, uncached, what each model call of the attack sent to the network.

    ``TextClassifier.logits`` sends only texts it has not seen before; those are the texts
    replayed, call by call, with the classifier's own batch size. This is the model time of
    the attack as its search batched it; ``wall - replay`` is the engine's own overhead.
    """
    seen, calls = set(), []
    for batch in batches:
        new = [t for t in dict.fromkeys(batch) if t not in seen]
        seen.update(new)
        if new:
            calls.append(new)
    start, cpu_start = time.perf_counter(), time.process_time()
    for new in calls:
        classifier.logits_uncached(new)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    sizes = [len(c) for c in calls]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "network_calls": len(calls),
        "mean_texts_per_call": sum(sizes) / len(sizes) if sizes else 0.0,
    }


def run_attack(suite, name, base, texts, labels, temperature, *, with_replay=True) -> dict:
    """Attack ``texts`` with a fresh cache; return timings, counts and the per-example results."""
    from ior.attacks.results import Outcome, summarize
    from ior.models.temperature import TemperatureScaled

    classifier = fresh_classifier(base)
    recorder = RecordingModel(classifier)
    victim = TemperatureScaled(recorder, temperature)
    timer = ResourceModelTimer(suite, name)
    load_before = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        results = suite.run(name, victim, texts, labels, desc=name)
    finally:
        timer.close()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    load_after = os.getloadavg()[0]
    summary = summarize(results)
    attacked = [r for r in results if r.outcome is not Outcome.SKIPPED]
    queries = sum(r.queries for r in results)
    network_texts = classifier.forward_count
    bound = query_bound(classifier, recorder.texts)
    replayed = replay(classifier, recorder.batches) if with_replay else None
    return {
        "attack": suite.canonical(name),
        "serve_temperature": temperature,
        "n": len(texts),
        "n_attacked": len(attacked),
        "n_succeeded": summary.n_succeeded,
        "clean_accuracy": summary.clean_accuracy,
        "adversarial_accuracy": summary.adversarial_accuracy,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "examples_per_min": 60.0 * len(texts) / wall,
        "examples_per_cpu_min": 60.0 * len(texts) / cpu,
        "queries": queries,
        "queries_per_s": queries / wall,
        "queries_per_cpu_s": queries / cpu,
        "mean_queries_attacked": summary.mean_queries,
        "model_calls": recorder.calls,
        "texts_requested": len(recorder.texts),
        "network_texts": network_texts,
        "query_bound": bound,
        "wall_over_query_bound": wall / bound["seconds"] if bound["seconds"] else float("nan"),
        "resource_model_seconds": timer.seconds,
        "resource_model_cpu_seconds": timer.cpu_seconds,
        "wall_over_model_bound": wall / (bound["seconds"] + timer.seconds) if bound["seconds"] else float("nan"),
        "cpu_over_query_bound": cpu / bound["cpu_seconds"] if bound["cpu_seconds"] else float("nan"),
        "replay": replayed,
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],
        "results": results,
    }


def machine_description() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def format_table(rows) -> str:
    header = (
        f"{'attack':<12} {'T_d':>5} {'n':>4} {'adv_acc':>7} | {'wall s':>7} {'ex/min':>6} "
        f"{'q/s':>6} | {'CPU s':>7} {'ex/min':>6} {'q/s':>6} | {'queries':>7} {'mean q':>6} "
        f"{'calls':>5} | {'replay':>6} {'bound':>6} {'bs':>4} | {'CPU/bound':>9} {'wall/bound':>10}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        b, p = r["query_bound"], r["replay"]
        replay_s = f"{p['cpu_seconds']:>6.1f}" if p else f"{'-':>6}"
        calls = f"{p['network_calls']:>5}" if p else f"{'-':>5}"
        lines.append(
            f"{r['attack']:<12} {r['serve_temperature']:>5g} {r['n']:>4} "
            f"{100 * r['adversarial_accuracy']:>6.1f}% | {r['wall_seconds']:>7.1f} "
            f"{r['examples_per_min']:>6.1f} {r['queries_per_s']:>6.1f} | {r['cpu_seconds']:>7.1f} "
            f"{r['examples_per_cpu_min']:>6.1f} {r['queries_per_cpu_s']:>6.1f} | {r['queries']:>7} "
            f"{r['mean_queries_attacked']:>6.1f} {calls} | {replay_s} {b['cpu_seconds']:>6.1f} "
            f"{str(b['batch_size']):>4} | {r['cpu_over_query_bound']:>9.2f} "
            f"{r['wall_over_query_bound']:>10.2f}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="trained classifier folder")
    parser.add_argument("--n", type=int, default=100, help="first N rt test examples (100)")
    parser.add_argument("--attack", nargs="+", default=["dg", "pwws"])
    parser.add_argument("--serve-temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared machine OpenMP threads that wait for "
                             "each other collapse under oversubscription)")
    parser.add_argument("--json", type=Path, help="also write the rows (without per-example results)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from ior.attacks.suite import TextAttackSuite
    from ior.data.loaders import load_text_dataset
    from ior.data.wordnet import load_wordnet
    from ior.models.victim import TextClassifier

    data = load_text_dataset("rt", "test").head(args.n)
    base = TextClassifier.from_pretrained(args.model)
    suite = TextAttackSuite(
        wordnet=load_wordnet() if "pwws" in args.attack else None, seed=args.seed, progress=False
    )
    machine = machine_description()
    print(
        f"machine: {machine['cpu']}, {machine['logical_cores']} logical cores, "
        f"torch {machine['torch']} ({machine['torch_threads']} threads), python {machine['python']}; "
        f"load average {machine['load_average']}"
    )
    print(
        f"model: {args.model} (max_length {base.max_length}, batch {base.batch_size}); "
        f"data: rt test, first {len(data)}; T_d = {args.serve_temperature:g}; seed {args.seed}"
    )
    rows = []
    for name in args.attack:
        row = run_attack(
            suite, name, base, list(data.texts), list(data.labels), args.serve_temperature
        )
        rows.append(row)
        print(
            f"  {row['attack']}: {row['wall_seconds']:.1f} s wall, {row['cpu_seconds']:.1f} s CPU, "
            f"query bound {row['query_bound']['cpu_seconds']:.1f} s CPU, load average 1 min "
            f"{row['load_average_1min'][0]:.1f} -> {row['load_average_1min'][1]:.1f}",
            file=sys.stderr,
        )
    print(format_table(rows))
    print(
        "CPU s: CPU time of the process (1 torch thread), robust to other jobs; queries: distinct "
        "texts per example as our\nengine counts them (clean text included); mean q: over attacked "
        "(non-skipped) examples; calls: model calls that reached\nthe network; replay: CPU s to run "
        "those calls again, uncached, batched as the search asked (the attack's model time);\n"
        "bound: CPU s to run the same distinct texts length-sorted at the best batch size bs "
        "(query bound); CPU/bound, wall/bound: attack time over query bound."
    )
    if args.json:
        payload = {
            "machine": machine,
            "model": args.model,
            "n": len(data),
            "serve_temperature": args.serve_temperature,
            "seed": args.seed,
            "threads": args.threads,
            "rows": [{k: v for k, v in r.items() if k != "results"} for r in rows],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
