"""The ``ray`` executor: the same plan on a Ray cluster, with its own stage runtime on the workers."""
