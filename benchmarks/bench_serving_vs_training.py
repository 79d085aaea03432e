"""Benchmark: serving scenarios against training scenarios at 10^6 draws (`estimate_summary`, warm, best of 3).

Times `carbon_mc.estimate_summary` for a deployment (default bloom_176b_api: `serving_footprint`)
and training runs (default gpt3_175b, 9 drawn inputs, and chinchilla_style_70b_target_loss, 11
inputs on 15 uniform columns with its joint scaling-law prior), summarizing the four outputs both
chains share (energy_mwh, operational_tco2e, embodied_tco2e, total_tco2e) and then each scenario's
own headline (what `carbon-mc run` reports: six outputs for a deployment, four for a training run).
Compilation is done in a warm-up call and not timed; the rounds are interleaved so that a machine
whose load changes affects every scenario alike. Prints a table and one JSON object.

With --commands it times instead what a user waits for: ``carbon-mc run SCENARIO --draws N --json``
as a whole process (start-up, scenario and priors, the persistent compilation cache, the draws and
the summaries), warm cache, median of --repeats, alternating; each deployment is also paired with
the training run of the same model (llama31_8b_h100_vllm_batch64 with llama31_8b).

With --all-training the deployment is compared with every bundled training scenario (models/*.toml),
and the ratio is taken to the median of their times.

    python benchmarks/bench_serving_vs_training.py [--draws 1000000] [--method qmc] [--repeats 3] [--commands] [--all-training]
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serving", default="bloom_176b_api")
    parser.add_argument("--training", nargs="+", default=["gpt3_175b", "chinchilla_style_70b_target_loss"])
    parser.add_argument("--draws", type=float, default=1e6)
    parser.add_argument("--method", choices=("mc", "qmc"), default="qmc")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--commands", action="store_true", help="time whole `carbon-mc run` processes instead")
    parser.add_argument("--all-training", action="store_true",
                        help="compare against every bundled training scenario (the median of their times)")
    args = parser.parse_args()
    n = int(args.draws)
    if args.all_training:
        from carbon_mc.data import data_dir

        args.training = sorted(p.stem for p in data_dir("models").glob("*.toml"))
    if args.commands:
        return commands(args, n)

    from carbon_mc.sampling.benchmark import machine
    from carbon_mc.footprint import HEADLINE
    from carbon_mc.sampling import build_simulator, estimate_summary

    sims = {name: build_simulator(name) for name in [args.serving, *args.training]}
    cases = {(name, label): variables for name, sim in sims.items()
             for label, variables in (("shared_4", list(HEADLINE)), ("own_headline", list(sim.headline)))}

    def run(name, variables):
        t = time.perf_counter()
        estimate_summary(sims[name].scenario, num_draws=n, seed=1, method=args.method, variables=variables)
        return time.perf_counter() - t

    if args.all_training:
        # Dozens of scenarios: interleaved rounds would evict compiled programs from JAX's in-memory
        # cache between a case's calls, so each case is warmed up and timed on its own, back to back.
        best = {}
        for case, variables in cases.items():
            run(case[0], variables)  # warm-up: compilation
            best[case] = min(run(case[0], variables) for _ in range(args.repeats))
    else:
        for (name, _), variables in cases.items():
            run(name, variables)  # warm-up: compilation
        best = {case: min(run(case[0], variables) for _ in range(1)) for case, variables in cases.items()}
        for _ in range(args.repeats - 1):
            for case, variables in cases.items():
                best[case] = min(best[case], run(case[0], variables))

    result = {"num_draws": n, "method": args.method, "repeats": args.repeats, "machine": machine(), "runs": []}
    print(f"{'scenario':<36} {'inputs':>6} {'columns':>7} {'outputs':<13} {'seconds':>8} {'draws/s':>12}")
    for (name, label), seconds in best.items():
        sim = sims[name]
        row = {"scenario": name, "chain": sim.chain.__name__, "inputs": len(sim.stochastic),
               "columns": sum(k for _, k in sim.columns), "outputs": label, "seconds": seconds, "draws_per_s": n / seconds}
        result["runs"].append(row)
        print(f"{name:<36} {row['inputs']:>6} {row['columns']:>7} {label:<13} {seconds:>8.3f} {n / seconds:>12,.0f}")
    if args.all_training:
        import statistics

        for label in ("shared_4", "own_headline"):
            times = sorted(best[(t, label)] for t in args.training)
            median = statistics.median(times)
            ratio = best[(args.serving, label)] / median
            result[f"serving_over_median_training_{label}"] = ratio
            print(f"{args.serving} / median of {len(times)} training scenarios ({label}): {ratio:.2f} "
                  f"(training {times[0]:.3f}-{times[-1]:.3f} s, median {median:.3f} s)")
    else:
        for training in args.training:
            for label in ("shared_4", "own_headline"):
                ratio = best[(args.serving, label)] / best[(training, label)]
                result[f"serving_over_{training}_{label}"] = ratio
                print(f"{args.serving} / {training} time ({label}): {ratio:.2f}")
    print(json.dumps(result))


PAIRS = {"bloom_176b_api": "gpt3_175b", "llama31_8b_h100_vllm_batch64": "llama31_8b"}


def commands(args, n: int) -> None:
    import statistics
    import subprocess

    from carbon_mc.sampling.benchmark import machine

    pairs = dict(PAIRS)
    pairs.setdefault(args.serving, args.training[0])
    names = list(dict.fromkeys([*pairs, *pairs.values()]))

    def wall(name: str) -> float:
        cmd = ["carbon-mc", "run", name, "--draws", str(n), "--method", args.method, "--json"]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t

    for name in names:
        wall(name)  # fills the compilation cache
    times = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in names:
            times[name].append(wall(name))
    median = {name: statistics.median(v) for name, v in times.items()}
    result = {"num_draws": n, "method": args.method, "repeats": args.repeats, "machine": machine(), "median_s": median}
    print(f"{'carbon-mc run ... --json':<36} {'median s':>9} {'min s':>7}")
    for name in names:
        print(f"{name:<36} {median[name]:>9.3f} {min(times[name]):>7.3f}")
    for serving, training in pairs.items():
        ratio = median[serving] / median[training]
        result[f"{serving}_over_{training}"] = ratio
        print(f"{serving} / {training}: {ratio:.2f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
