"""``workflow_name`` on Plan, RunContext, RunReport and PacketInfo: the name, under a name that says so.

They were called ``workflow`` while holding the name (never the workflow object); the old
attribute still reads the same value, for plugins and hooks written against it.
"""

from __future__ import annotations

from segflow.engine.execution.plan import compile_plan
from segflow.engine.frame import PacketInfo
from segflow.engine.node import RunContext
from segflow.engine.observe.metrics import RunReport
from segflow.engine.workflow.validate import validate_text

WORKFLOW = """version: 1
name: line-7
nodes:
  cam: {type: source.test_pattern, params: {frames: 2, width: 32, height: 24}}
  out: {type: sink.stdout, inputs: {image: cam.image}}
"""


def test_each_carries_the_workflows_name_as_workflow_name_and_the_old_attribute_agrees():
    result = validate_text(WORKFLOW, "<wf>")
    assert result.ok and result.graph is not None
    plan = compile_plan(result.graph)
    context = RunContext(workflow_name=plan.workflow_name)
    report = RunReport(plan.workflow_name)
    info = PacketInfo("cam", 0, 0.0, plan.workflow_name)
    for carrier in (plan, context, report, info):
        assert carrier.workflow_name == "line-7"
        assert carrier.workflow == "line-7"
    assert report.to_dict()["workflow"] == "line-7"  # what reports and records write is unchanged
