"""Fixtures that parametrise a test over the steps of the ladder."""
import pytest
from ladder import STEPS, TORCH_STEPS


@pytest.fixture(params=list(STEPS), ids=list(STEPS))
def step_name(request):
    return request.param


@pytest.fixture(params=TORCH_STEPS, ids=TORCH_STEPS)
def torch_step_name(request):
    return request.param
