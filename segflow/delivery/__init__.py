"""How records leave a workflow: record building, the sink gate, file and network delivery, spools.

The sink node types in :mod:`segflow.nodes.sinks` are thin declarations over this machinery.
"""
