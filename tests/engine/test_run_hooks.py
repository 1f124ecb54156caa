"""on_start says `workflow_name`; hooks written for the old `workflow=<name>` keep working, with a warning."""

from __future__ import annotations

import warnings

import pytest

from segflow.engine.api import loads
from segflow.engine.observe.hooks import WORKFLOW_KWARG_REMOVED_IN, HookList, RunHooks, start_hooks

WORKFLOW = """version: 1
name: hooked
nodes:
  cam: {type: source.test_pattern, params: {frames: 3, width: 32, height: 24}}
"""


class NewHook(RunHooks):
    def __init__(self):
        self.started = {}

    def on_start(self, *, workflow_name, total_frames, **future_kwargs):
        self.started = {"workflow_name": workflow_name, "total_frames": total_frames, **future_kwargs}


class OldHook(RunHooks):
    """Written before 0.2: the name arrived as `workflow`."""

    def __init__(self):
        self.started = {}

    def on_start(self, *, workflow, total_frames, **future_kwargs):
        self.started = {"workflow": workflow, "total_frames": total_frames, **future_kwargs}


class OldStrictHook:
    """An old hook that does not even take **kwargs (duck-typed, not a RunHooks)."""

    def __init__(self):
        self.name = None

    def on_start(self, *, workflow, total_frames, node_metrics=None, sources=None):
        self.name = workflow


def test_a_run_tells_hooks_the_workflow_name_as_workflow_name():
    hook = NewHook()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        loads(WORKFLOW).run(hooks=hook)
    assert hook.started["workflow_name"] == "hooked" and hook.started["total_frames"] == 3
    assert "workflow" not in hook.started  # `workflow` means the object elsewhere: no longer a name here
    assert set(hook.started["sources"]) == {"cam"}


def test_an_old_hook_still_gets_the_name_as_workflow_with_a_deprecation_warning():
    hook = OldHook()
    with pytest.warns(DeprecationWarning, match=rf"OldHook.on_start takes `workflow`.*{WORKFLOW_KWARG_REMOVED_IN}"):
        loads(WORKFLOW).run(hooks=hook)
    assert hook.started["workflow"] == "hooked" and hook.started["total_frames"] == 3
    assert "workflow_name" in hook.started  # it takes **kwargs: the new name comes too


def test_hook_lists_and_hooks_without_kwargs_are_told_alike():
    new, old, strict = NewHook(), OldHook(), OldStrictHook()
    with pytest.warns(DeprecationWarning) as heard:
        start_hooks(HookList([new, old, strict]), workflow_name="w", total_frames=None, node_metrics=list,
                    sources={})
    assert (new.started["workflow_name"], old.started["workflow"], strict.name) == ("w", "w", "w")
    assert sorted(str(w.message).split(".")[0] for w in heard) == ["OldHook", "OldStrictHook"]
