"""``gan-lab campaign``: train every family of a plan into one folder, evaluate, write one summary table."""
from __future__ import annotations

from gan_lab.cli.common import positive_int


def register_cli(subparsers) -> None:
    c = subparsers.add_parser(
        "campaign", help="train and evaluate every family of a plan (default: the DNFM thesis's CelebA comparison)",
        description="Train a list of runs (every family at every size and seed of a JSON plan) into one folder, "
                    "then score each finished run (FID, the classifier distance where the data has one, loss "
                    "volatility) and write summary.csv and summary.md. Finished runs are skipped, interrupted ones "
                    "resume, a failed one is reported and the others go on. Under torchrun the runs train "
                    "data-parallel on every GPU.")
    c.add_argument("--plan", default=None, help="a plan file (JSON; default: the built-in CelebA plan, or the "
                                                "plan.json of --out when it has one)")
    c.add_argument("--write-plan", default=None, metavar="FILE", help="write the default plan to FILE and stop")
    c.add_argument("--out", default="runs/campaign", help="the campaign folder (default runs/campaign)")
    c.add_argument("--data", default=None, help="override the plan's data: celeba, fashion-mnist, mnist or a folder")
    c.add_argument("--data-root", default=None, help="where the data lives (CelebA: DIR holding celeba/)")
    c.add_argument("--families", default=None, help="comma-separated families (override the plan's)")
    c.add_argument("--sizes", default=None, help="comma-separated image sizes, e.g. 28 or 64,128")
    c.add_argument("--steps", type=positive_int, default=None, help="steps of every run (override the plan's)")
    c.add_argument("--fid-n", type=int, default=None, help="images per FID (0: no FID)")
    c.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, cuda:N, mps")
    c.add_argument("--fast", action="store_true",
                   help="the default plan on the CelebA-format fixture (tiny presets, 4 steps, FID on 10): a smoke run")
    c.add_argument("--summary-only", action="store_true", help="train nothing; score the finished runs and write "
                                                               "the summary")
    c.add_argument("--no-progress", action="store_true")
    c.set_defaults(func=cmd_campaign)


def _list(text: str, kind, flag: str):
    from gan_lab.utils import GanLabError

    try:
        values = [kind(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GanLabError(f"{flag} {text!r}: expected a comma-separated list") from None
    if not values:
        raise GanLabError(f"{flag}: give at least one value")
    return values


def build_plan(args):
    """The plan from --plan / --out's plan.json / --fast / the default, with the flags on top (checked)."""
    import dataclasses
    from pathlib import Path

    from gan_lab import campaign
    from gan_lab.data import default_shape

    out = Path(args.out)
    if args.fast:
        plan = campaign.fast_plan(campaign.make_fixture(out / "fixture"))
    elif args.plan:
        plan = campaign.Plan.from_file(args.plan)
    elif (out / campaign.PLAN_FILE).is_file():
        plan = campaign.Plan.from_file(out / campaign.PLAN_FILE)
    else:
        plan = campaign.default_plan()
    values = {}
    if args.data is not None:
        values["data"] = args.data
        if args.sizes is None and not args.fast:          # a stand-in at its own native size unless told
            values["sizes"] = [default_shape(args.data)[0]]
        values["channels"] = None
        values["data_root"] = args.data_root
    if args.data_root is not None:
        values["data_root"] = args.data_root
    if args.families is not None:
        values["families"] = _list(args.families, str, "--families")
        if isinstance(plan.steps, dict):
            values["steps"] = {k: v for k, v in plan.steps.items() if k in values["families"] or k == "default"}
    if args.sizes is not None:
        values["sizes"] = _list(args.sizes, int, "--sizes")
    if args.steps is not None:
        values["steps"] = args.steps
    if args.fid_n is not None:
        values["fid_n"] = args.fid_n
    merged = {**dataclasses.asdict(plan), **values}
    return campaign.Plan.from_dict(merged, where="plan (with the command-line flags)")


def cmd_campaign(args) -> int:
    from pathlib import Path

    from gan_lab import campaign

    if args.write_plan:
        path = campaign.default_plan().write(args.write_plan)
        print(f"default plan written to {path}; edit it and run `gan-lab campaign --plan {path} --out DIR`")
        return 0
    plan = build_plan(args)
    out = Path(args.out)
    if args.summary_only:
        campaign.check_data(plan)
        from gan_lab.utils import pick_device
        campaign.summarize(plan, out, device=pick_device(args.device))
        print(f"summary: {out / campaign.SUMMARY_CSV}, {out / campaign.SUMMARY_MD}")
        return 0
    import torch

    threads = torch.get_num_threads()
    if args.fast:
        torch.set_num_threads(1)        # tiny nets: a second thread only waits (and a busy CPU makes it worse)
    try:
        report = campaign.run_campaign(plan, out, device=args.device, progress=not args.no_progress and not args.fast)
    finally:
        torch.set_num_threads(threads)
    import torch.distributed as dist
    rank = 0
    if dist.is_initialized():
        rank = dist.get_rank()
        dist.destroy_process_group()
    # under torchrun rank 0 reports the campaign's outcome: another rank that exited non-zero here would
    # make torchrun stop rank 0 while it still scores the runs and writes the summary
    return 1 if report.failed and rank == 0 else 0
