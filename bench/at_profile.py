"""Adversarial training steps against their bound: the forward and backward passes each method needs.

For one batch of the `cpu` preset (32 rt training sentences, max length 64, MiniLM with a fresh head,
training mode) this times the primitives alone:

    F      forward pass
    F+Bi   forward, then backward to the input embeddings only (an ascent step of the adversary)
    F+Bp   forward, then backward to the parameters and the input embeddings (a training pass)

and each method's `backward` on the same batch. The bound is what the method cannot do without:

    standard  F+Bp
    pgd       K (F+Bi) + (F+Bp)                        K = adv_steps
    freelb    K (F+Bp)
    ascc      K (F+Bi) + 2 (F+Bp)                      clean and adversarial passes, one backward
    ddi       M (K (F+Bi) + (F+Bp))                     M = ddi_samples, K = ddi_steps

Run it alone on the machine (nothing else computing): medians of `--repeats` timings after a warm-up.

    .venv/bin/python bench/at_profile.py --json bench/results/at_profile.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["standard", "pgd", "freelb", "ascc", "ddi"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ior.data.loaders import load_text_dataset
    from ior.models.victim import default_encoder_path
    from ior.training.config import TrainConfig
    from ior.training.trainer import training_method

    config = TrainConfig.from_preset("cpu", model=default_encoder_path(), dataset="rt")
    tokenizer = AutoTokenizer.from_pretrained(config.model)
    model = AutoModelForSequenceClassification.from_pretrained(config.model, num_labels=2).train()
    data = load_text_dataset("rt", "train")
    batch = dict(tokenizer(list(data.texts[:config.batch_size]), padding=True, truncation=True,
                           max_length=config.max_length, return_tensors="pt"))
    target = torch.as_tensor(data.labels[:config.batch_size])
    embeddings = model.get_input_embeddings()
    extra = {k: v for k, v in batch.items() if k != "input_ids"}

    def forward():
        with torch.no_grad():
            model(**batch)

    def forward_backward_input():
        embeds = embeddings(batch["input_ids"]).detach().requires_grad_(True)
        loss = F.cross_entropy(model(inputs_embeds=embeds, **extra).logits, target)
        torch.autograd.grad(loss, embeds)

    def forward_backward_params():
        model.zero_grad(set_to_none=True)
        embeds = embeddings(batch["input_ids"]).detach().requires_grad_(True)
        F.cross_entropy(model(inputs_embeds=embeds, **extra).logits, target).backward()

    f = timed(forward, args.repeats)
    fbi = timed(forward_backward_input, args.repeats)
    fbp = timed(forward_backward_params, args.repeats)
    k, m, kd = config.adv_steps, config.ddi_samples, config.ddi_steps
    bounds = {"standard": fbp, "pgd": k * fbi + fbp, "freelb": k * fbp, "ascc": k * fbi + 2 * fbp,
              "ddi": m * (kd * fbi + fbp)}
    rows = {}
    for name in args.methods:
        method_config = TrainConfig.from_preset("cpu", model=config.model, dataset="rt", method=name)
        method = training_method(method_config, tokenizer)

        def step():
            model.zero_grad(set_to_none=True)
            method.backward(model, batch, target)

        seconds = timed(step, args.repeats)
        rows[name] = {"step_seconds": seconds, "bound_seconds": bounds[name], "ratio": seconds / bounds[name]}
        print(f"{name:9s} step {seconds:7.3f} s   bound {bounds[name]:7.3f} s   ratio {seconds / bounds[name]:.2f}",
              flush=True)
    result = {"primitives_seconds": {"F": f, "F+Bi": fbi, "F+Bp": fbp}, "batch": list(batch["input_ids"].shape),
              "threads": args.threads, "methods": rows}
    print(json.dumps(result["primitives_seconds"]))
    if args.json:
        from ior.data.cache import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
