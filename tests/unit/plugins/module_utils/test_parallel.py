"""The bounded parallel helper every module uses to run requests side by side."""

import threading
import time

import pytest

from ansible_collections.regops.registry.plugins.module_utils._errors import InvalidInputError, RegistryConnectionError
from ansible_collections.regops.registry.plugins.module_utils._parallel import map_parallel, run_parallel, validate_parallel


def test_map_parallel_returns_every_result_and_never_exceeds_the_bound():
    lock = threading.Lock()
    running = {'now': 0, 'most': 0}

    def work(item):
        with lock:
            running['now'] += 1
            running['most'] = max(running['most'], running['now'])
        try:
            return item * item
        finally:
            with lock:
                running['now'] -= 1

    assert map_parallel(range(200), work, 3) == dict((i, i * i) for i in range(200))
    assert running['most'] <= 3


def test_a_failure_is_raised_after_the_successes_are_reported_and_the_rest_cancelled():
    started = []
    beside = threading.Event()

    def work(item):
        started.append(item)
        if item == 0:
            beside.wait(5)  # fail while item 1 runs beside it
            raise RegistryConnectionError('boom', registry='r.example:5000')
        if item == 1:
            beside.set()
            return item
        time.sleep(0.05)
        return item

    done = []
    with pytest.raises(RegistryConnectionError, match='boom'):
        run_parallel(range(50), work, 2, done=lambda item, result: done.append(item))
    # What ran beside the failure was reported; most of the rest never started.
    assert 1 in done and 0 not in done
    assert len(started) < 50


@pytest.mark.parametrize('value', [0, 33, -1])
def test_parallel_must_fit_the_connection_pool(value):
    with pytest.raises(InvalidInputError, match='parallel must be between 1 and 32'):
        validate_parallel(value)
