"""A workflow file, phase by phase: YAML source -> spec -> validation -> compiled graph.

Rule: nothing here runs a node; it reads, checks and describes workflows (schema, param docs,
diagrams). Execution builds on it, never the reverse.
"""
