"""Large generated graphs still validate quickly: a chain of N nodes, timed through ``validate_text``.

    python bench/validate_large.py [--nodes 10000]

Target: 10,000 nodes in under 2 s; it also shows 2,000 nodes side by side, so
the ratio says whether validation stays linear on a busy machine.
"""

from __future__ import annotations

import argparse
import time

from segflow.engine.workflow.validate import validate_text


def chain(nodes: int) -> str:
    """A source, ``nodes - 2`` cheap nodes in a chain, and a sink: YAML text as a generator writes it."""
    lines = ["version: 1", f"name: chain-{nodes}", "nodes:",
             "  n0: {type: source.test_pattern, params: {frames: 3, width: 32, height: 24}}"]
    for i in range(1, nodes - 1):
        lines.append(f"  n{i}: {{type: debug.invert, inputs: {{image: n{i - 1}.image}}}}")
    lines.append(f"  n{nodes - 1}: {{type: sink.stdout, inputs: {{image: n{nodes - 2}.image}}}}")
    return "\n".join(lines) + "\n"


def timed(nodes: int) -> float:
    text = chain(nodes)
    started = time.perf_counter()
    result = validate_text(text, f"<chain-{nodes}>")
    elapsed = time.perf_counter() - started
    if not result.ok:
        raise SystemExit("\n".join(i.format() for i in result.issues[:5]))
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    args = parser.parse_args()
    timed(50)  # registry and imports, outside the timings
    small, large = timed(args.nodes // 5), timed(args.nodes)
    print(f"{args.nodes // 5:>6} nodes: {small:.2f} s")
    print(f"{args.nodes:>6} nodes: {large:.2f} s (ratio {large / small:.1f} for 5x the nodes; target < 2 s)")


if __name__ == "__main__":
    main()
