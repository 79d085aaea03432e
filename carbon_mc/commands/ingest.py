"""`carbon-mc import codecarbon|power-log|grid FILE`: measurements in, scenarios (or a grid prior) out.

Nothing heavy is imported at module level, so ``carbon-mc --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

from .common import positive_float, positive_int

CLOUD_DATACENTERS = {"gcp": "google", "aws": "aws", "azure": "microsoft_azure"}  # CodeCarbon cloud_provider -> pue variant
BILLS = {"aws-cur": ("AWS Cost and Usage Report", "aws", "product/region"),  # kind: (what, pue variant, region column)
         "gcp-billing": ("Google Cloud Billing export", "google", "location.region")}


def register(sub) -> None:
    p = sub.add_parser("import", help="turn a CodeCarbon CSV or a GPU power log into a scenario, or hourly grid data into a prior",
                       description="Turn measurements into a scenario TOML (with [reported] basis = \"measured\") that "
                                   "`carbon-mc run` and `carbon-mc check` accept, or hourly grid intensity into a grid prior.")
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    cc = kinds.add_parser("codecarbon", help="CodeCarbon emissions.csv -> scenario",
                          description="CodeCarbon emissions.csv -> scenario. Energy: energy_consumed / pue (IT scope) or "
                                      "gpu_energy / pue (--scope accelerator); CodeCarbon's emissions become a claim.")
    cc.add_argument("file", help="CodeCarbon emissions.csv")
    cc.add_argument("--run-id", action="append", default=[], metavar="ID", help="keep only this run_id (repeatable; default: all runs)")
    cc.add_argument("--scope", choices=("codecarbon", "it", "accelerator"), default="codecarbon",
                    help="codecarbon: CPU + GPU + RAM, each part kept (default; a CPU-only run is read as it); it: "
                         "energy_consumed taken as the whole servers'; accelerator: the GPUs' energy alone")
    cc.add_argument("--merge", action="store_true",
                    help="take the file's several runs (run_id) as parts of one training run, e.g. one per node, in one "
                         "scenario (default: one scenario per run, OUT_<project>_<run-id>.toml beside -o OUT.toml)")
    cc.add_argument("--rapl", action="store_true",
                    help="CodeCarbon read CPU and RAM from RAPL counters (default: taken as modelled, a wider meter error)")
    cc.add_argument("--devices", type=positive_int, help="GPUs per run, when CodeCarbon's gpu_count is empty")
    pl = kinds.add_parser("power-log", help="nvidia-smi or DCGM power log -> scenario (accelerator energy)",
                          description="nvidia-smi --query-gpu=timestamp,index,name,power.draw,... --format=csv output, a "
                                      "dcgm-exporter CSV, or dcgmi dmon -e 155 output -> scenario on the accelerator scope.")
    pl.add_argument("file", help="power log")
    pl.add_argument("--interval", type=positive_float, metavar="SECONDS", help="sampling interval of dcgmi dmon output (its -d / 1000)")
    pl.add_argument("--max-gap", type=positive_float, default=300.0, metavar="SECONDS",
                    help="longest gap between two samples of a device (default 300 s); longer is an error")
    pl.add_argument("--fix-power-fraction", action="store_true",
                    help="with --as-claim: fix accelerator_power_tdp_fraction to the measured mean power / TDP in [priors]")
    for q in (cc, pl):
        q.add_argument("-o", "--out", required=True,
                       help="scenario TOML to write (a CodeCarbon file of several runs: one file per run beside it, "
                            "OUT_<project>_<run-id>.toml)")
        q.add_argument("--force", action="store_true", help="overwrite --out if it exists")
        q.add_argument("--run-devices", type=positive_int, metavar="N",
                       help="the whole run's devices, when the file covers some of them (a partial measurement)")
        q.add_argument("--run-hours", type=positive_float, metavar="HOURS",
                       help="the whole run's hours, when the file covers part of them (a partial measurement)")
        q.add_argument("--as-claim", action="store_true",
                       help="write the measurement only as a [reported] figure to check, not as the run's input")
        q.add_argument("--hardware", help="accelerator key (default: matched from the GPU name in the file)")
        q.add_argument("--name", help="run name in the scenario (default: from the file)")
        q.add_argument("--region", help="grid variant (`carbon-mc list regions`); CodeCarbon: default from its location")
        q.add_argument("--grid", metavar="CSV", help="hourly grid intensity (Electricity Maps or WattTime) for the run's hours")
        q.add_argument("--grid-basis", choices=("lca", "direct"), default="lca", help="Electricity Maps column (default lca)")
        q.add_argument("--datacenter", help="pue variant (`carbon-mc list datacenters`)")
        q.add_argument("--pue", type=positive_float, help="a fixed PUE instead of --datacenter")
        q.add_argument("--utc-offset", help="zone of timestamps written without one (default UTC), e.g. +02:00")
        _common(q)
    aws = kinds.add_parser("aws-cur", help="AWS Cost and Usage Report CSV -> scenarios from its accelerator hours",
                           description="AWS Cost and Usage Report (legacy or 2.0 CSV) -> one scenario per instance type "
                                       "and region: device-hours = the instance-hours of its BoxUsage/SpotUsage/DedicatedUsage "
                                       "line items x the accelerators per instance. The bill holds no energy: the run "
                                       "estimates it. Fees, other services and instances without accelerators are counted "
                                       "and left out.")
    gcp = kinds.add_parser("gcp-billing", help="Google Cloud Billing export CSV -> scenarios from its GPU hours",
                           description="Google Cloud Billing export (standard usage cost, as a CSV) -> one scenario per GPU "
                                       "and region: device-hours = usage.amount_in_pricing_units of the 'Nvidia ... GPU "
                                       "running in ...' SKUs (each GPU is billed on its own, per hour). Commitment fees, tax "
                                       "and other SKUs are counted and left out.")
    for q, what in ((aws, "the bill's product/region"), (gcp, "the export's location.region")):
        q.add_argument("file", help="billing CSV")
        q.add_argument("-o", "--out", required=True,
                       help="scenario TOML to write (several types or regions: OUT_<type>_<region>.toml beside it)")
        q.add_argument("--force", action="store_true", help="overwrite the scenarios if they exist")
        q.add_argument("--merge", action="store_true", help="one scenario for the whole bill (one accelerator in one region)")
        q.add_argument("--name", help="run name in the scenario (default: from the type and region)")
        q.add_argument("--region", help=f"grid variant or place instead of {what}")
        q.add_argument("--datacenter", help=f"pue variant (default {'aws' if q is aws else 'google'})")
        q.add_argument("--pue", type=positive_float, help="a fixed PUE instead of --datacenter")
        _common(q)
    gr = kinds.add_parser("grid", help="hourly grid intensity CSV -> [priors] grid_gco2_per_kwh table",
                          description="Hourly grid intensity (Electricity Maps export, or WattTime MOER in lbs/MWh) -> a "
                                      "lognormal grid_gco2_per_kwh prior in g/kWh. With --start/--end: time-weighted mean "
                                      "over the run's hours, spread from the hour-to-hour variation; without: year-to-year.")
    gr.add_argument("file", help="hourly intensity CSV")
    gr.add_argument("--start", help="run start, e.g. 2024-03-01T00:00 (UTC unless a zone is given)")
    gr.add_argument("--end", help="run end")
    gr.add_argument("--basis", choices=("lca", "direct"), default="lca", help="Electricity Maps column (default lca)")
    gr.add_argument("-o", "--out", help="write the TOML snippet here instead of printing it")
    gr.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    _common(gr)


def _common(p) -> None:
    p.add_argument("--priors", action="append", default=[], metavar="DIR", help="priors overlay directory (repeatable)")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of a table")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from ..errors import CarbonMCError

    out = getattr(args, "out", None)
    if out and Path(out).exists() and not args.force:
        raise CarbonMCError("exists; pass --force to overwrite it", file=out)
    if args.kind == "grid":
        return _grid(args)
    if args.kind in BILLS:
        return _billing(args)
    return _scenario(args)


def _billing(args) -> int:
    """`import aws-cur`: one scenario per (instance type, region) of the bill, or one with --merge; all or none."""
    from ..errors import CarbonMCError
    from ..ingest import write_all
    from ..ingest.billing import merged, read_aws_cur, read_gcp_billing
    from ..priors import load_priors
    from .common import fmt, print_json, stdout

    table = load_priors(overlays=args.priors)
    if args.datacenter and args.pue is not None:
        raise CarbonMCError("give --datacenter or --pue, not both", key="--pue")
    bill = (read_aws_cur if args.kind == "aws-cur" else read_gcp_billing)(args.file, table.hardware)
    usages = [merged(bill)] if args.merge else bill.usages
    paths = _billing_paths(args.out, usages, force=args.force)
    built = [(path, _billing_text(args, bill, usage, table, path)) for usage, path in zip(usages, paths, strict=True)]
    write_all(built)
    summaries = [{"out": str(path), "instance_type": u.instance_type, "region": u.region, "hardware": u.hardware,
                  "accelerators_per_instance": u.per_instance, "instance_hours": u.instance_hours,
                  "device_hours": u.device_hours, "line_items": u.line_items,
                  "start": u.start.isoformat() if u.start else None, "end": u.end.isoformat() if u.end else None}
                 for (path, _), u in zip(built, usages, strict=True)]
    if args.json:
        print_json({"scenarios": summaries, "left_out": bill.skipped})
        return 0
    for (path, _), u in zip(built, usages, strict=True):
        stdout.print(f"wrote {path}: {fmt(u.device_hours)} device-hours of {u.hardware} ({u.instance_type}, "
                     f"{u.region or 'region from --region'}; {u.line_items:,} line items)", markup=False)
    stdout.print(f"  left out: {bill.skipped_text()}", markup=False)
    stdout.print("  basis: device-hours only (a bill holds no energy); the run draws the energy from priors", markup=False)
    stdout.print(f"next: carbon-mc run {summaries[0]['out']}", markup=False)
    return 0


def _billing_paths(out: str, usages, *, force: bool) -> list[Path]:
    """`out` for one usage; OUT_<instance type>_<region>.toml beside it for several. Existing files need `force`."""
    import re


    target = Path(out)
    if len(usages) == 1:
        paths = [target]
    else:
        parts = [re.sub(r"[^A-Za-z0-9._-]+", "-", f"{u.instance_type}_{u.region or 'any'}") for u in usages]
        paths = [target.with_name(f"{target.stem}_{part}{target.suffix or '.toml'}") for part in parts]
    return _refuse_existing(paths, force)


def _refuse_existing(paths: list[Path], force: bool) -> list[Path]:
    """`paths`, unless one exists and `force` is off: then an error before anything is written."""
    from ..errors import CarbonMCError

    if not force:
        for path in paths:
            if path.exists():
                raise CarbonMCError("exists; pass --force to overwrite it" + (" (nothing was written)" if len(paths) > 1 else ""),
                                    file=str(path))
    return paths


def _billing_text(args, bill, usage, table, path: Path) -> str:
    """The validated scenario text of one billed usage (nothing written)."""
    from ..errors import CarbonMCError
    from ..ingest import scenario_text
    from ..ingest.measured import _sig
    from ..scenarios.where import resolve_region

    file = Path(bill.file).name
    what, cloud, column = BILLS[args.kind]
    if args.region:
        region, _ = resolve_region(args.region, table, "--region", "--region")
        where = f"Grid: region {region!r} ({args.region!r} given on the command line)."
    elif usage.region:
        region, _ = resolve_region(usage.region, table, bill.file, column)
        where = f"Grid: region {region!r}, from the bill's {column} {usage.region!r}."
    else:
        raise CarbonMCError(f"the bill gives no region ({column}): give --region NAME", file=bill.file, key="--region")
    label = "AWS" if args.kind == "aws-cur" else "Google Cloud"
    run: dict = {"name": args.name or f"{label} {usage.instance_type} in {usage.region or region} ({file})",
                 "hardware": usage.hardware, "device_hours": _sig(usage.device_hours)}
    run["region"] = region
    if args.pue is not None:
        run["pue"], how = args.pue, f"PUE: {args.pue:g}, given on the command line."
    else:
        run["datacenter"] = args.datacenter or cloud
        how = f"PUE: datacenter {run['datacenter']!r}" + (" given on the command line." if args.datacenter else f" (the {what}'s cloud).")
    if usage.start is not None:
        run["year"] = usage.start.year
    run["source"] = f"{what} {file}"
    per = f" x {usage.per_instance} accelerators per instance" if usage.per_instance > 1 else ""
    unit = "accelerator" if args.merge or args.kind != "aws-cur" else "instance"
    comments = [
        f"Imported by `carbon-mc import {args.kind}` from {file} ({what}).",
        f"Billed: {usage.instance_hours:,.6g} {unit}-hours of {usage.instance_type}{per} "
        f"= {usage.device_hours:,.6g} device-hours of {usage.hardware}, over {usage.line_items:,} usage line items.",
        *([f"Billed period: {usage.start:%Y-%m-%d %H:%M} to {usage.end:%Y-%m-%d %H:%M} UTC."] if usage.start and usage.end else []),
        f"Left out of the bill: {bill.skipped_text()}.",
        "Basis: device-hours only (a bill holds no energy); the run estimates the energy from its priors.",
        where, how,
    ]
    return scenario_text(path, [("run", run)], comments, priors=table)


def _grid(args) -> int:
    import sys

    from ..errors import CarbonMCError
    from ..ingest import annual_prior, read_grid_csv, run_prior, toml_document
    from ..ingest.tables import parse_time
    from ..io.files import save_text
    from .common import print_json, stdout

    if (args.start is None) != (args.end is None):
        raise CarbonMCError("give both --start and --end, or neither (then the spread is year-to-year)", key="--start")
    series = read_grid_csv(args.file, basis=args.basis)
    if args.start:
        start, end = (parse_time(t, error=lambda m, f=f: CarbonMCError(m, key=f)) for t, f in ((args.start, "--start"), (args.end, "--end")))
        prior = run_prior(series, start, end)
    else:
        prior = annual_prior(series)
    text = toml_document([("priors.grid_gco2_per_kwh", prior)], [
        f"Grid prior from {Path(args.file).name}: paste into a scenario and remove [run] region.",
    ])
    if args.out:
        save_text(text, args.out)
    if args.json:
        print_json(prior)
    elif not args.out:
        sys.stdout.write(text)  # unwrapped, so it can be pasted into a scenario
    else:
        stdout.print(f"wrote {args.out}: {prior['distribution']} {prior['params']} g/kWh", markup=False)
    return 0


def _scenario(args) -> int:
    from ..errors import CarbonMCError
    from ..ingest import read_codecarbon, read_codecarbon_runs, read_power_log, write_all
    from ..ingest.tables import utc_offset
    from ..priors import load_priors

    table = load_priors(overlays=args.priors)
    offset = utc_offset(args.utc_offset)
    if args.kind == "codecarbon" and not args.merge:
        runs = read_codecarbon_runs(args.file, run_ids=args.run_id or None, scope=args.scope, devices=args.devices,
                                    utc_offset=offset, rapl=args.rapl)
    elif args.kind == "codecarbon":
        runs = [read_codecarbon(args.file, run_ids=args.run_id or None, scope=args.scope, merge=True, devices=args.devices,
                                utc_offset=offset, rapl=args.rapl)]
    else:
        runs = [read_power_log(args.file, interval_s=args.interval, max_gap_s=args.max_gap, utc_offset=offset)]
    if len(runs) > 1 and (args.run_devices is not None or args.run_hours is not None):
        raise CarbonMCError(f"holds {len(runs)} runs, written apart; --run-devices/--run-hours place one measurement in a "
                            "larger run: pass --merge (the runs are parts of it) or --run-id ID", file=runs[0].file,
                            key="--run-devices")
    paths = run_paths(args.out, runs, force=args.force)
    built = [_build(args, run, table, path) for run, path in zip(runs, paths, strict=True)]  # every run checked first
    write_all([(path, text) for path, text, *_ in built])  # then all written, or none
    summaries = [_report(args, run, path, *rest) for run, (path, _, *rest) in zip(runs, built, strict=True)]
    if args.json:
        from .common import print_json

        print_json(summaries[0] if len(summaries) == 1 else summaries)
    elif len(runs) > 1:
        from .common import stdout

        stdout.print(f"{len(runs)} runs of {Path(args.file).name} written apart (one scenario each; --merge sums them, "
                     "--run-id picks one)", markup=False)
    return 0


def run_paths(out: str, runs, *, force: bool = False) -> list[Path]:
    """Where each run's scenario goes: `out` itself for one run; for several (a CodeCarbon file of
    several run_ids, written apart) one file per run beside `out`, OUT_<project>_<run-id prefix>.toml.
    The run-id prefix is 8 characters, or as many more as keep the names apart.

    Raises:
      CarbonMCError: a file to write exists (without `force`); nothing has been written.
    """
    import re


    target = Path(out)
    if len(runs) == 1:
        paths = [target]
    else:
        ids = [run.run_id or str(i) for i, run in enumerate(runs)]
        longest = max(map(len, ids))
        width = next((n for n in range(8, longest + 1) if len({i[:n] for i in ids}) == len(ids)), longest)
        paths = []
        for run, run_id in zip(runs, ids, strict=True):
            project = re.sub(r"[^A-Za-z0-9._-]+", "-", run.project or "").strip("-.")[:40] or "codecarbon"
            name = f"{target.stem}_{project}_{re.sub(r'[^A-Za-z0-9-]+', '-', run_id[:width])}{target.suffix or '.toml'}"
            paths.append(target.with_name(name))
    return _refuse_existing(paths, force)


def _build(args, run, table, path: Path):
    """(path, text, hardware, tdp, where, how) of `run`'s scenario, validated, nothing written."""
    from ..errors import CarbonMCError
    from ..ingest import check_power, match_hardware, scenario_sections, scenario_text

    if args.hardware:
        hardware = match_hardware(args.hardware, table.hardware, key="--hardware") if args.hardware not in table.hardware else args.hardware
    elif run.gpu_name:
        hardware = match_hardware(run.gpu_name, table.hardware, file=run.file, key="GPU name")
    elif run.cpu_name:
        hardware = match_hardware(run.cpu_name, table.hardware, file=run.file, key="CPU model")
    else:
        raise CarbonMCError("the file names no GPU or CPU model: give --hardware KEY (`carbon-mc list hardware`)", file=run.file)
    if run.cpu_name and not run.gpu_name:
        count_sockets(run, table.hardware[hardware], args.devices)
    if args.name:
        run.name = args.name if run.run_id is None or args.merge else f"{args.name} (run {run.run_id[:8]})"
    region, grid_prior, where = run_place(args, run, table)
    datacenter, pue, how = run_datacenter(args, run)
    tdp = table.hardware[hardware]["tdp_w"]
    check_power(run, hardware, tdp)  # board power within [0, 2 x TDP], before anything is written
    sections, comments = scenario_sections(run, hardware=hardware, tdp_w=tdp, region=region, grid_prior=grid_prior,
                                           datacenter=datacenter, pue=pue, fix_power_fraction=getattr(args, "fix_power_fraction", False),
                                           as_claim=args.as_claim, run_devices=args.run_devices, run_hours=args.run_hours)
    comments += [where, how]
    if run.run_id is not None:
        comments.append(f"CodeCarbon run_id {run.run_id}, one of the runs of {Path(run.file).name} (written apart).")
    return path, scenario_text(path, sections, comments, priors=table), hardware, tdp, where, how


def count_sockets(run, spec: dict, given: int | None) -> None:
    """A CPU-only run's devices are CPU sockets: --devices, else the logical CPUs the tracker saw over two
    hardware threads per core (SMT on, the default of server CPUs) and the model's cores per socket."""
    import math

    from ..errors import CarbonMCError
    from ..priors.cpu_names import cores_in_name

    if given:
        sockets, how = given, f"{given} given with --devices"
    elif run.logical_cpus and (cores := cores_in_name(run.cpu_name) or spec.get("cores")):  # the name's own count first
        sockets = max(1, math.ceil(run.logical_cpus / (2 * cores)))
        how = (f"{run.logical_cpus} logical CPUs / (2 threads x {cores} cores per socket); "
               "give --devices N if SMT was off or the job used part of the machine")
    else:
        raise CarbonMCError("a CPU-only run needs its number of CPU sockets: give --devices N", file=run.file)
    run.devices = sockets
    run.device_hours = run.wall_hours * sockets
    run.notes.append(f"CPU-only run on {run.cpu_name}: {sockets} socket(s) ({how}); no GPU.")


def run_place(args, run, table):
    """(region, grid prior, sentence): where the run's electricity came from."""
    from ..errors import CarbonMCError

    if args.region and args.grid:
        raise CarbonMCError("give --region or --grid, not both", key="--grid")
    if args.grid:
        from ..ingest import annual_prior, read_grid_csv, run_prior

        series = read_grid_csv(args.grid, basis=args.grid_basis)
        prior = run_prior(series, run.start, run.end) if run.start and run.end else annual_prior(series)
        return None, prior, prior["description"]
    if args.region:
        from ..scenarios.where import resolve_region

        key, _ = resolve_region(args.region, table, "--region", "--region")  # any place name; unknown -> close matches
        return key, None, f"Grid: region {key!r} ({args.region!r} given on the command line)."
    loc = run.location
    tried = []
    for label, name in _location_names(loc):
        key = _place_key(name, table)
        if key is not None:
            if any(t[0] != label for t in tried):  # a more specific place was named but has no grid
                import logging

                logging.getLogger("carbon_mc").warning(
                    "%s: CodeCarbon's %s not known as a grid (%s): using its %s, %r", Path(run.file).name,
                    " and ".join(sorted({t[0] for t in tried})), ", ".join(repr(t[1]) for t in tried), label, key)
            return key, None, f"Grid: region {key!r}, from CodeCarbon's {label} {name!r}."
        tried.append((label, name))
    found = ", ".join(f"{k} {v!r}" for k, v in loc.items() if v) or "no location"
    raise CarbonMCError(f"no grid region for this run ({found}): give --region NAME (`carbon-mc list regions --search ...`) "
                        "or --grid CSV", file=run.file)


def _place_key(name: str, table) -> str | None:
    """The grid variant a place name resolves to (exactly or via the place aliases), or None."""
    from ..errors import InputError
    from ..priors.places import resolve

    variants = table.quantities["grid_gco2_per_kwh"].variants
    if name in variants:
        return name
    try:
        place = resolve(name, available=variants)
    except InputError:
        return None
    return None if place.fell_back else place.key


def _location_names(loc: dict):
    """Place names in CodeCarbon's location columns, most specific first: the cloud region (as
    provider:region, then the older provider-region keys), the region, the country by name and by
    ISO code."""
    provider, cloud_region = (loc.get("cloud_provider") or "").strip().lower(), (loc.get("cloud_region") or "").strip().lower()
    if provider and cloud_region:
        yield "cloud region", f"{provider}:{cloud_region}"
        yield "cloud region", f"{provider}-{cloud_region}"
    region, iso = (loc.get("region") or "").strip(), (loc.get("country_iso_code") or "").strip()
    if region:
        yield "region", region
    if loc.get("country_name"):
        yield "country", loc["country_name"].strip()
    if iso:
        yield "country", iso


def run_datacenter(args, run):
    """(datacenter, pue, sentence): the data centre's overhead."""
    from ..errors import CarbonMCError

    if args.datacenter and args.pue is not None:
        raise CarbonMCError("give --datacenter or --pue, not both", key="--pue")
    if args.datacenter:
        return args.datacenter, None, f"PUE: datacenter {args.datacenter!r} given on the command line."
    if args.pue is not None:
        return None, args.pue, f"PUE: {args.pue:g}, given on the command line."
    if run.pue is not None:
        return None, run.pue, f"PUE: {run.pue:g}, the pue CodeCarbon applied (its pue column)."
    provider = (run.location.get("cloud_provider") or "").strip().lower()
    if provider in CLOUD_DATACENTERS:
        key = CLOUD_DATACENTERS[provider]
        return key, None, f"PUE: datacenter {key!r}, from CodeCarbon's cloud_provider {provider!r}."
    raise CarbonMCError("the file does not say what data centre the run was in: give --datacenter KEY "
                        "(`carbon-mc list datacenters`) or --pue NUMBER", file=run.file)


def _report(args, run, path, hardware, tdp, where, how) -> dict:
    from .common import fmt, stdout

    fraction = run.tdp_fraction(tdp)
    summary = {
        "out": str(path), "tool": run.tool, "run_id": run.run_id, "hardware": hardware, "gpu_name": run.gpu_name,
        "devices": run.devices, "device_hours": run.device_hours, "energy_kwh": run.energy_kwh, "energy_scope": run.energy_scope,
        "start": run.start.isoformat() if run.start else None, "end": run.end.isoformat() if run.end else None,
        "mean_device_power_w": run.mean_device_power_w, "power_tdp_fraction": fraction,
        "emissions_kg": run.emissions_kg, "grid": where, "pue": how,
        "use": "claim" if args.as_claim else "input",
    }
    if args.json:
        return summary
    stdout.print(f"wrote {path} from {Path(run.file).name} ({run.tool}"
                 + (f", run_id {run.run_id}" if run.run_id and not args.merge else "") + ")", markup=False)
    stdout.print(f"  {fmt(run.energy_kwh)} kWh ({run.energy_scope} scope) over {fmt(run.device_hours)} device-hours on "
                 f"{run.devices} x {hardware}" + (f" ({run.gpu_name})" if run.gpu_name else ""), markup=False)
    if fraction is not None:
        stdout.print(f"  mean board power {run.mean_device_power_w:,.1f} W = {fraction:.3f} of the {tdp:g} W TDP", markup=False)
    stdout.print(f"  {where}\n  {how}", markup=False)
    if args.as_claim:
        stdout.print("  the measurement is a claim to check ([reported]); the run draws the energy from priors", markup=False)
        stdout.print(f"next: carbon-mc check {path}", markup=False)
    else:
        stdout.print("  the measurement is the run's input ([measured]); the run draws only what it leaves out", markup=False)
        stdout.print(f"next: carbon-mc run {path}", markup=False)
    return summary
