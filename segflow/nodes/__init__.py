"""Built-in node types, one folder per family (sources, models, crops, measure, analyze, detections, sinks).

Registered through the ``segflow.nodes`` entry point like any plugin: the
registry imports every submodule here and collects the classes marked with
``@node_type``. Heavy libraries (torch, ultralytics, sam2) are imported inside
``setup`` so that importing this package stays cheap.
"""
