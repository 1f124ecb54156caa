"""Large generated graphs validate and compile their plan quickly; validation and plan timed apart.

    python bench/validate_large.py [--nodes 10000]

Three shapes, as a generator writes them:

- ``chain``: a source, ``nodes - 2`` cheap nodes in a chain, a sink (one CPU stage);
- ``wide``: a source feeding ``nodes / 4`` branches of model -> stats -> merge -> sink, each merge
  also reading its left neighbour's stats (joins across branches, thousands of stages);
- ``models``: a chain of 800 model nodes (one stage each), the shape that was cubic.

Each is also timed at a fifth of its size, so the ratio says whether the work stays
near-linear on a busy machine (5x the nodes should cost about 5x, not 25x).
Target: 10,000 nodes validated and planned in under 1 s.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from segflow.engine.execution.plan import compile_plan
from segflow.engine.workflow.validate import validate_text

HEAD = ("version: 1\nname: {name}\nnodes:\n"
        "  n0: {{type: source.test_pattern, params: {{frames: 3, width: 32, height: 24}}}}\n")


def chain(nodes: int) -> str:
    """A source, ``nodes - 2`` cheap nodes in a chain, and a sink."""
    lines = [HEAD.format(name=f"chain-{nodes}")]
    lines += [f"  n{i}: {{type: debug.invert, inputs: {{image: n{i - 1}.image}}}}\n" for i in range(1, nodes - 1)]
    lines.append(f"  n{nodes - 1}: {{type: sink.stdout, inputs: {{image: n{nodes - 2}.image}}}}\n")
    return "".join(lines)


def wide(nodes: int) -> str:
    """A source and ``nodes // 4`` branches (model, stats, merge with the left branch, sink)."""
    lines = [HEAD.format(name=f"wide-{nodes}")]
    for b in range((nodes - 1) // 4):
        left = f"s{b - 1}.value" if b else f"s{b}.value"
        lines += [
            f"  m{b}: {{type: debug.simulated_model, params: {{call_ms: 0}}, inputs: {{image: n0.image}}}}\n",
            f"  s{b}: {{type: debug.stats, inputs: {{image: m{b}.image}}}}\n",
            f"  j{b}: {{type: debug.merge, inputs: {{a: s{b}.value, b: {left}}}}}\n",
            f"  o{b}: {{type: sink.stdout, inputs: {{value: j{b}.value}}}}\n",
        ]
    return "".join(lines)


def models(nodes: int) -> str:
    """A source, ``nodes - 2`` model nodes in a chain, and a sink."""
    lines = [HEAD.format(name=f"models-{nodes}")]
    lines += [f"  n{i}: {{type: debug.simulated_model, params: {{call_ms: 0}}, inputs: {{image: n{i - 1}.image}}}}\n"
              for i in range(1, nodes - 1)]
    lines.append(f"  n{nodes - 1}: {{type: sink.stdout, inputs: {{image: n{nodes - 2}.image}}}}\n")
    return "".join(lines)


def timed(shape: Callable[[int], str], nodes: int) -> tuple[float, float, float, int]:
    """Seconds to validate, to compile the plan, CPU seconds of both, and the plan's stage count.

    The CPU time is this process's own: on a machine other jobs share, it says what the
    work costs when the wall time says mostly how long the scheduler made it wait.
    """
    text = shape(nodes)
    cpu, started = time.process_time(), time.perf_counter()
    result = validate_text(text, f"<{shape.__name__}-{nodes}>")
    validated = time.perf_counter()
    if not result.ok or result.graph is None:
        raise SystemExit("\n".join(i.format() for i in result.issues[:5]))
    plan = compile_plan(result.graph)
    done = time.perf_counter()
    return validated - started, done - validated, time.process_time() - cpu, len(plan.stages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    args = parser.parse_args()
    timed(chain, 50)  # registry and imports, outside the timings
    worst = 0.0
    for shape, size in ((chain, args.nodes), (wide, args.nodes), (models, 800)):
        small = timed(shape, size // 5)
        valid, plan, cpu, stages = timed(shape, size)
        worst = max(worst, valid + plan)
        print(f"{shape.__name__:>6} {size:>6} nodes ({stages:>5} stages): validate {valid:.2f} s, "
              f"plan {plan:.3f} s, CPU {cpu:.2f} s; ratio {(valid + plan) / (small[0] + small[1]):.1f} "
              "for 5x the nodes")
    print(f"slowest: {worst:.2f} s (target < 1 s for {args.nodes} nodes)")


if __name__ == "__main__":
    main()
