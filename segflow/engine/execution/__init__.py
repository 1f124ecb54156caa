"""Running a compiled graph: the plan, the per-packet step, batching, failures, executors.

Executors are registered as data in :mod:`segflow.engine.execution.executors` and imported on
demand, so choosing one never makes an import circle.
"""
