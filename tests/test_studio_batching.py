"""The studio's batched generations (deepaccomp.studio.batching): requests that wait together share one
generator call and one decoding, and each answer is byte-identical to the request served alone."""

import os
import threading
import time

import numpy as np
import pytest

import deepaccomp
from deepaccomp import Accompanist
from deepaccomp.studio.batching import Batcher

EXAMPLES = os.path.join(os.path.dirname(deepaccomp.__file__), "assets", "examples")
TWINKLE = os.path.join(EXAMPLES, "twinkle.mid")


@pytest.fixture(scope="module")
def accompanist():
    """The model as users call it, never batched: the reference answers."""
    return Accompanist()


def together(batcher, requests):
    """Each request ``dict(melody=..., **kwargs)`` run in its own thread through ``batcher``: the first
    alone while the model is busy, then all the others queued before it is free. Their results (or
    errors), in order (the batch threads may each take some of the waiting calls)."""
    results = [None] * len(requests)

    def run(i):
        kw = dict(requests[i])
        try:
            results[i] = batcher.accompanist.generate_piece(kw.pop("melody"), **kw)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            results[i] = exc

    def wait(condition):
        deadline = time.monotonic() + 60
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.005)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    with batcher.paused():
        threads[0].start()
        wait(lambda: batcher.queued == 1 and batcher._queue.qsize() == 0)  # taken: waiting for the model
        for t in threads[1:]:
            t.start()
        wait(lambda: batcher.queued == len(requests))  # every call queued (or taken by a waiting thread)
    for t in threads:
        t.join(60)
    return results


def same(a, b):
    return np.array_equal(a.roll, b.roll) and np.array_equal(a.onsets, b.onsets)


@pytest.mark.slow
def test_requests_batched_together_equal_each_served_alone(accompanist):
    batcher = Batcher(Accompanist(), threads=1, max_calls=8)  # every waiting call in one take, in any order
    requests = [dict(melody=TWINKLE, seed=s, noise_scale=n) for s, n in [(0, None), (1, 1.0), (7, 3.0), (8, 0.5)]]
    requests += [dict(melody=TWINKLE, seed=3, decoding={"onset_cost": 3.0}),  # not the model's own setting
                 dict(melody=TWINKLE, seed=4, decoding={"onset_cost": 3.0, "parallel_cost": 0.0}),
                 dict(melody=os.path.join(EXAMPLES, "ode_to_joy_pickup.mid"), seed=5)]
    got = together(batcher, requests)
    assert batcher.largest == 3  # the three after the first with the model's settings share a batch
    for request, result in zip(requests, got):
        kw = dict(request)
        assert same(result, accompanist.generate_piece(kw.pop("melody"), **kw)), request
    batcher.close()


@pytest.mark.slow
def test_regenerations_batched_together_equal_each_served_alone(accompanist, tmp_path):
    take = tmp_path / "take.mid"
    accompanist.generate(TWINKLE, seed=0).write(str(take))
    batcher = Batcher(Accompanist(), threads=1)
    requests = [dict(melody=TWINKLE, seed=s, keep=str(take), regenerate=r)
                for s, r in [(1, {"bars": (2, 4)}), (2, {"bars": (1, 3), "tracks": ["tenor"]}),
                             (3, {"bars": (5, 8), "tracks": ["alto", "bass"]})]]
    got = together(batcher, [dict(melody=TWINKLE, seed=9)] + requests)[1:]
    assert batcher.largest >= 2
    for request, result in zip(requests, got):
        kw = dict(request)
        assert same(result, accompanist.generate_piece(kw.pop("melody"), **kw)), request
    batcher.close()


@pytest.mark.slow
def test_a_failing_request_fails_alone_and_a_closed_batcher_still_serves(accompanist):
    batcher = Batcher(Accompanist(), threads=1)
    bad = dict(melody=TWINKLE, seed=2, noise_scale=1.0)
    generator = batcher.forward.generator

    def poisoned(inputs, training=False):  # fails on a batch holding noise of scale 1 (|z| <= 2)
        noise = np.abs(inputs[1]).reshape(len(inputs[1]), -1)
        if (noise.max(axis=1) <= 2.0).any():
            raise FloatingPointError("poisoned")
        return generator(inputs, training=training)

    batcher.forward.generator = poisoned
    try:
        got = together(batcher, [dict(melody=TWINKLE, seed=0), dict(melody=TWINKLE, seed=1),
                                 dict(melody=TWINKLE, seed=3), bad])
    finally:
        batcher.forward.generator = generator
    assert batcher.largest == 3
    assert isinstance(got[3], FloatingPointError)
    for seed, result in zip([0, 1, 3], got):
        assert same(result, accompanist.generate_piece(TWINKLE, seed=seed))
    batcher.close()
    alone = accompanist.generate_piece(TWINKLE, seed=4)
    assert same(batcher.accompanist.generate_piece(TWINKLE, seed=4), alone)
    assert batcher.runs == 6  # 1 first, 1 batch of 3 that failed, its 3 again one by one, 1 after close


@pytest.mark.slow
def test_two_batch_threads_answer_each_request_as_alone(accompanist):
    batcher = Batcher(Accompanist(), threads=2)
    requests = [dict(melody=TWINKLE, seed=s, noise_scale=n) for s, n in [(0, None), (1, 1.0), (7, 3.0), (8, 0.5),
                                                                          (9, None), (10, 2.0)]]
    requests.append(dict(melody=os.path.join(EXAMPLES, "ode_to_joy_pickup.mid"), seed=5))
    got = together(batcher, requests)
    assert batcher.largest >= 2 and len(batcher._threads) == 2
    for request, result in zip(requests, got):
        kw = dict(request)
        assert same(result, accompanist.generate_piece(kw.pop("melody"), **kw)), request
    batcher.close()
    assert same(batcher.accompanist.generate_piece(TWINKLE, seed=4), accompanist.generate_piece(TWINKLE, seed=4))
