"""segflow engine: workflow spec, validation, graph compilation and execution.

Rule of this package: it imports nothing of ours outside ``engine`` and none of
torch, ultralytics, sam2 or streamlit. Node types reach it through the
``segflow.nodes`` entry-point group.
"""

from segflow.engine.frame import Frame, PacketInfo
from segflow.engine.node import (
    BatchParams,
    Inputs,
    LiveSourceParams,
    Node,
    NodeError,
    Params,
    Port,
    SinkNode,
    SourceHealth,
    SourceNode,
    node_type,
)
from segflow.engine.ports import Kind
from segflow.engine.workflow.inputs import takes_node_value

__all__ = [
    "BatchParams",
    "Frame",
    "Inputs",
    "Kind",
    "LiveSourceParams",
    "Node",
    "NodeError",
    "PacketInfo",
    "Params",
    "Port",
    "SinkNode",
    "SourceHealth",
    "SourceNode",
    "node_type",
    "takes_node_value",
]
