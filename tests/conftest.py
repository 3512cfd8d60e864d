"""Fixtures that parametrise a test over the steps of the ladder."""
import pytest
from ladder import SCRIPTS, STEPS, TORCH_SCRIPTS, TORCH_STEPS


@pytest.fixture(params=list(STEPS))
def step_name(request):
    """Each step that trains the two-layer net (steps 1 to 7)."""
    return request.param


@pytest.fixture(params=TORCH_STEPS)
def torch_step_name(request):
    """Each of those that uses torch (steps 2 to 7)."""
    return request.param


@pytest.fixture(params=SCRIPTS)
def script_name(request):
    """Each script of the ladder, dynamic_net included."""
    return request.param


@pytest.fixture(params=TORCH_SCRIPTS)
def torch_script_name(request):
    return request.param
