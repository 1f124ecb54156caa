import argparse

import pytest

from segflow.tools.synth.dataset import write_dataset
from segflow.tools.train import TRAIN


def _train_args(**kw):
    parser = argparse.ArgumentParser()
    TRAIN.add_arguments(parser)
    args = parser.parse_args([kw.pop("data")])
    for k, v in kw.items():
        setattr(args, k, v)
    return args


@pytest.fixture(scope="session")
def train_args():
    """Build a `segflow train` namespace: defaults from the parser, then overrides."""
    return _train_args


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One epoch of yolov8n-seg from scratch on 4 generated images at 64 px: a real run, tiny."""
    root = tmp_path_factory.mktemp("tiny")
    data = write_dataset(root / "ds", n_train=4, n_val=2, seed=1)
    out = root / "run"
    rc = TRAIN.run(_train_args(data=str(data), epochs=1, imgsz=64, batch=2, workers=0, out=str(out)))
    return {"rc": rc, "data": data, "out": out}
