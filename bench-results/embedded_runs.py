"""Reads the results of `embedded.sh` runs (for `embedded-runs.sh`): one line per run, or a
summary per binary of how often issue 14's two targets held.

    embedded_runs.py line RUN_DIR
    embedded_runs.py summary RUN_DIR...
"""
import json
import os
import re
import statistics
import sys

RATIO_TARGET = 0.8
ADDED_P99_TARGET_MS = 5.0
# How far apart the load generator's CPU per message may be in the two max-rate steps for a
# run to count as measured on an equally fast machine (BENCHMARKS.md, stop 43: the machine's
# speed drifts between steps, and the ratio with it).
EQUAL_SPEED = 0.10
STEPS = ["a-relay-max", "b-rules-max", "c-relay-half", "d-rules-half"]
# The relay at max rate again after the rules step (runs from before stop 44 lack it).
RELAY_AGAIN = "a2-relay-max"


def read_run(run):
    """A run's figures: both rates at max rate, the half-rate p99s, CPU per message per step."""
    step = {}
    for name in STEPS:
        with open(os.path.join(run, name + ".json")) as f:
            step[name] = json.load(f)
    again = os.path.join(run, RELAY_AGAIN + ".json")
    if os.path.exists(again):
        with open(again) as f:
            step[RELAY_AGAIN] = json.load(f)
    cpu, load = {}, {}
    with open(os.path.join(run, "cpu.txt")) as f:
        for line in f:
            m = re.match(r"^(\S+): rulewire [\d.]+ s CPU, ([\d.]+) us per message"
                         r"(?:, load generator ([\d.]+) us per message)?", line)
            if m:
                cpu[m.group(1)] = float(m.group(2))
                if m.group(3):  # runs from before stop 43 did not record it
                    load[m.group(1)] = float(m.group(3))
    with open(os.path.join(run, "binary")) as f:
        binary = f.read().strip()
    relay = step["a-relay-max"]["delivered_per_sec"]
    rules = step["b-rules-max"]["delivered_per_sec"]
    # The rules rate over the mean of the relay rates before and after it: a steady drift of
    # the machine's speed cancels out.
    relay_again = step.get(RELAY_AGAIN, {}).get("delivered_per_sec")
    bracketed = rules / ((relay + relay_again) / 2) if relay and relay_again else None
    p99 = {name: (step[name]["latency_ms"] or {}).get("p99", float("nan"))
           for name in ["c-relay-half", "d-rules-half"]}
    lost = sum(s["lost"] for s in step.values())
    return {
        "binary": binary,
        "relay": relay,
        "rules": rules,
        "ratio": rules / relay if relay else 0.0,  # nothing relayed: a broken run
        "relay_again": relay_again,
        "bracketed": bracketed,
        "relay_p99": p99["c-relay-half"],
        "rules_p99": p99["d-rules-half"],
        "added_p99": p99["d-rules-half"] - p99["c-relay-half"],
        "lost": lost,
        "cpu": cpu,
        "load": load,
        "equal_speed": equal_speed(load),
    }


def equal_speed(load):
    """Whether the load generator cost about the same per message in both max-rate steps."""
    relay, rules = load.get("a-relay-max"), load.get("b-rules-max")
    if relay is None or rules is None:
        return None
    return abs(relay - rules) <= EQUAL_SPEED * min(relay, rules)


def line(run):
    r = read_run(run)
    cpu = " / ".join(f"{r['cpu'].get(name, float('nan')):.2f}" for name in STEPS)
    load = " / ".join(f"{r['load'].get(name, float('nan')):.2f}" for name in STEPS)
    return (f"{os.path.basename(run.rstrip('/'))} {r['binary']}: relay {r['relay']:,.0f} rules "
            f"{r['rules']:,.0f} msg/s, ratio {r['ratio']:.2f}"
            + ("" if r["bracketed"] is None else
               f" (relay after {r['relay_again']:,.0f}, bracketed {r['bracketed']:.2f})")
            + f"; half rate p99 {r['relay_p99']:.2f} -> "
            f"{r['rules_p99']:.2f} ms ({r['added_p99']:+.2f}); lost {r['lost']}; "
            f"us/msg (relay, rules at max; relay, rules at half): rulewire {cpu}, "
            f"load generator {load}"
            + ("" if r["equal_speed"] is not False else "; machine speed changed between steps"))


def targets_met(ratio, r):
    """Both of issue 14's targets for run `r`, its ratio taken as `ratio`."""
    return ratio is not None and ratio >= RATIO_TARGET and r["added_p99"] < ADDED_P99_TARGET_MS


def ratio_spread(ratios):
    """Range, median and how many reach the target, of some runs' ratios."""
    ratios = sorted(ratios)
    return (f"ratio {ratios[0]:.2f}-{ratios[-1]:.2f}, median {statistics.median(ratios):.2f}, "
            f">= {RATIO_TARGET} in {sum(x >= RATIO_TARGET for x in ratios)}")


def summary(runs):
    by_binary = {}
    for run in runs:
        r = read_run(run)
        by_binary.setdefault(r["binary"], []).append(r)
    out = []
    for binary, rs in by_binary.items():
        tail_ok = sum(r["added_p99"] < ADDED_P99_TARGET_MS for r in rs)
        both = sum(targets_met(r["ratio"], r) for r in rs)
        added = sorted(r["added_p99"] for r in rs)
        out.append(
            f"{binary}: {len(rs)} runs; {ratio_spread(r['ratio'] for r in rs)}; added p99 at "
            f"half rate {added[0]:+.2f} to {added[-1]:+.2f} ms, < {ADDED_P99_TARGET_MS:g} ms in "
            f"{tail_ok}; both targets in {both}; lost {sum(r['lost'] for r in rs)}")
        bracketed = [r for r in rs if r["bracketed"] is not None]
        if bracketed:
            out.append(
                f"  bracketed (rules over the mean of the relay before and after): "
                f"{len(bracketed)} runs, {ratio_spread(r['bracketed'] for r in bracketed)}; "
                f"both targets in {sum(targets_met(r['bracketed'], r) for r in bracketed)}")
        steady = [r["ratio"] for r in rs if r["equal_speed"]]
        if steady:
            out.append(
                f"  at equal machine speed (load generator within {EQUAL_SPEED:.0%} in both "
                f"max-rate steps): {len(steady)} runs, {ratio_spread(steady)}")
    return "\n".join(out)


if __name__ == "__main__":
    if sys.argv[1] == "line":
        print(line(sys.argv[2]), flush=True)
    else:
        print(summary(sys.argv[2:]))
