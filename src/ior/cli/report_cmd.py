"""``ior report``: tables and figures of a sweep's results store."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Turn a sweep's results store (OUT/runs.sqlite) into the paper's views, mean +- std over seeds:
Table 1 (clean accuracy, mean confidence clean/adversarial, ECE/MCE), Tables 2-3 (adversarial
accuracy served/cal/opt per attack), the IOR gap, Table 4 (training methods at a high training
temperature), Figure 1 (adversarial accuracy against confidence over serving temperatures),
Figure 2 (post-cal accuracy against training temperature), Figure 3 (logit range), reliability
diagrams, Table 20 (word-importance rank correlation with the ↑conf twin), the training runs, what
each cell cost in worker seconds (beside an estimate made before the sweep, with --estimate), and
the paper's claims checked against the numbers. A view without data says so; audits computed on
other weights than the model their training cell now records (a model trained again, not
bit-identically) are flagged at the top.

Writes OUT/report.md, OUT/report.html (self-contained), OUT/figures/*.png and OUT/report.json."""


def register(sub) -> None:
    p = sub.add_parser("report", help="tables and figures of a sweep's results",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="the sweep's output folder (holding runs.sqlite)")
    p.add_argument("--estimate", metavar="FILE", default=None,
                   help="a cost estimate made before the sweep (JSON with cells[].key and cells[].expected_seconds, "
                        "as bench/estimate_sweep.py writes): the cost table sets each cell's measured seconds "
                        "beside it")
    p.set_defaults(handler=run_report)


def run_report(args) -> int:
    from ior.reporting.report import write_report

    paths = write_report(args.out, estimate=args.estimate)
    print(f"wrote {paths['report.md']}, {paths['report.html']} and {paths['report.json']} "
          f"({len(paths['figures'])} figures)")
    return 0
