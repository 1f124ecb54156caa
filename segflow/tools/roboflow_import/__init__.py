"""``segflow import roboflow``: Roboflow Workflows definitions converted into segflow workflows.

One module per concern: ``definition`` (reading the JSON, locating steps),
``selectors`` (``$steps.x.y`` to ``node.port``), ``operands`` (Roboflow's query
language to segflow's conditions), ``blocks_*`` (one mapper per block family),
``table`` (which block maps to what, and why the others do not), ``convert``
(the steps in order, then the outputs as sinks), ``writer`` (commented YAML)
and ``command`` (the CLI).
"""
