"""pytest plugin: lance-ray's own tests with lance_ray.create_index replaced by
lancer.create_index (engine="ray"). Loaded with `-p lancer_as_lance_ray`; with
LANCER_CALLS_FILE set, the number of calls is written there at the end."""

import os

import lance_ray
import lance_ray.index

import lancer

calls = 0


def _create_index(*args, **kwargs):
    global calls
    calls += 1
    kwargs.setdefault("progress", False)
    return lancer.create_index(*args, **kwargs)


lance_ray.create_index = _create_index
lance_ray.index.create_index = _create_index


def pytest_report_header(config):
    return "lance_ray.create_index is lancer.create_index (engine='ray')"


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("LANCER_CALLS_FILE"):
        with open(os.environ["LANCER_CALLS_FILE"], "w") as f:
            f.write(str(calls))
