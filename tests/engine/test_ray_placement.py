"""Whether a Ray run's actors fit, decided on paper: a table of clusters and asks, fitting and refused."""

import pytest

from segflow.engine.execution.executor import ExecutorUnavailable
from segflow.engine.execution.ray.placement import Ask, actor_options, demand, place

SHARD = "shard worker"


def shards(count: int, **wanted: float) -> Ask:
    return Ask("", SHARD, demand(wanted), count)


def model(count: int, auto: bool = False, **wanted: float) -> Ask:
    return Ask("model", "node 'model' (debug.simulated_model)", demand(wanted), count, auto)


@pytest.mark.parametrize("nodes, asks, expected", [
    # fits: counts as asked
    ([{"CPU": 2}], [shards(2, cpu=0.5), model(1, cpu=1)], {"": 2, "model": 1}),
    # auto: one replica per node that has an accelerator, at most one per shard
    ([{"CPU": 1}, {"CPU": 1, "accel": 1}, {"CPU": 1, "accel": 1}],
     [shards(8, cpu=0.1), model(8, auto=True, cpu=0.1, accel=1)], {"": 8, "model": 2}),
    ([{"CPU": 4, "GPU": 4}], [shards(2, cpu=1), model(2, auto=True, gpu=1, cpu=0.5)], {"": 2, "model": 2}),
    # auto takes what is left once the fixed asks are placed
    ([{"CPU": 2}], [shards(1, cpu=1), model(4, auto=True, cpu=0.5)], {"": 1, "model": 2}),
    # the box: three cameras at cpu 0.5 and a model at cpu 1 need 2.5 of 2 CPUs
    ([{"CPU": 2}], [shards(3, cpu=0.5), model(1, cpu=1)],
     "the run's Ray actors do not fit on the cluster together: 3 x shard worker at {CPU: 0.5} + 1 x node 'model' "
     "(debug.simulated_model) at {CPU: 1} need {CPU: 2.5}, the cluster has {CPU: 2}"),
    # enough CPU in total, but no node can hold two shards at once
    ([{"CPU": 1}, {"CPU": 1}, {"CPU": 1}], [shards(3, cpu=0.75), model(1, cpu=0.5)], "do not fit on the cluster"),
    # one actor no node can host
    ([{"CPU": 8}], [shards(1, cpu=1), model(1, gpu=1)],
     "node 'model' (debug.simulated_model) asks for {GPU: 1, CPU: 1} per actor, which no Ray node has "
     "(the cluster has {GPU: 0, CPU: 8})"),
    ([{"CPU": 1}], [shards(1, cpu=2)], "shard worker asks for {CPU: 2} per actor, which no Ray node has"),
    # resources of zero always fit; custom resources count like any other
    ([{"CPU": 0}], [shards(4, cpu=0), model(1, cpu=0)], {"": 4, "model": 1}),
    ([{"CPU": 4, "camera_box": 1}], [shards(2, cpu=1, camera_box=1)], "do not fit on the cluster together"),
])
def test_placement(nodes, asks, expected):
    if isinstance(expected, dict):
        assert place(asks, nodes) == expected
    else:
        with pytest.raises(ExecutorUnavailable) as caught:
            place(asks, nodes)
        assert expected in str(caught.value)
        assert caught.value.hint


def test_resources_in_rays_names_and_options():
    wanted = demand({"gpu": 0.5, "memory": 2e9, "camera_box": 1})
    assert wanted == {"GPU": 0.5, "memory": 2e9, "camera_box": 1.0, "CPU": 1.0}
    assert actor_options(wanted) == {"num_cpus": 1.0, "num_gpus": 0.5, "memory": 2e9,
                                     "resources": {"camera_box": 1.0}}
