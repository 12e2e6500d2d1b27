"""scripts/learning_curve.py: which train pieces a learning-curve run keeps."""

import importlib.util
import os

import numpy as np
import pytest

from deepaccomp.data import Dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _script():
    spec = importlib.util.spec_from_file_location("learning_curve", os.path.join(ROOT, "scripts", "learning_curve.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dataset():
    splits = ["train"] * 7 + ["valid", "test", "excluded"]
    pieces = [{"id": f"p{i}", "split": s} for i, s in enumerate(splits)]
    return Dataset([np.zeros((16, 128, 4), bool) for _ in pieces], pieces)


def test_subset_keeps_its_share_of_train_only_and_nests():
    ds = _dataset()
    before = [dict(p) for p in ds.pieces]
    lc = _script()
    half, quarter = lc.train_subset(ds, 0.5), lc.train_subset(ds, 0.25)
    assert len(half.indices("train")) == 4 and len(quarter.indices("train")) == 2  # round(3.5) == 4, round(1.75) == 2
    assert set(quarter.indices("train")) < set(half.indices("train")) <= set(ds.indices("train"))
    for sub in (half, quarter):
        assert sub.indices("valid") == [7] and sub.indices("test") == [8]
        left_out = set(ds.indices("train")) - set(sub.indices("train"))
        assert all(sub.pieces[i]["split"] == "excluded" for i in left_out)
    assert ds.pieces == before  # the dataset given is not changed
    assert lc.train_subset(ds, 1.0).pieces == ds.pieces


@pytest.mark.parametrize("fraction", [0, -0.5, 1.5])
def test_subset_refuses_a_fraction_outside_0_1(fraction):
    with pytest.raises(ValueError, match="fraction"):
        _script().train_subset(_dataset(), fraction)
