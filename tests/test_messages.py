"""Messages say what happened: no "None" where there is nothing to name."""

import types

import pytest

from deepaccomp.errors import TrainingError


@pytest.mark.parametrize("latest, fragment", [
    (None, "no checkpoint was saved yet"),
    ("runs/x/checkpoints/ckpt-4", "the last good checkpoint (runs/x/checkpoints/ckpt-4) is kept"),
])
def test_non_finite_loss_names_the_checkpoint_or_says_there_is_none(latest, fragment):
    from deepaccomp.monitoring import Monitor

    monitor = types.SimpleNamespace(iteration=lambda: 1, model=types.SimpleNamespace(stop_training=False),
                                    manager=types.SimpleNamespace(latest_checkpoint=latest))
    with pytest.raises(TrainingError) as exc:
        Monitor.on_train_batch_end(monitor, 0, {"d_loss": float("nan")})
    assert fragment in str(exc.value) and "None" not in str(exc.value)
    assert monitor.model.stop_training
