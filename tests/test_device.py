"""Tests for lstm_course.device: device choice order and seeding."""
import random

import numpy as np
import pytest
import torch
from torch import nn

from lstm_course import device as dev
from lstm_course.device import get_device, model_device, seed_everything


def test_prefer_wins_over_env(monkeypatch):
    monkeypatch.setenv(dev.DEVICE_ENV, "meta")
    assert get_device("cpu") == torch.device("cpu")
    assert get_device(torch.device("meta")) == torch.device("meta")


def test_env_used_when_no_prefer(monkeypatch):
    monkeypatch.setenv(dev.DEVICE_ENV, "meta")
    assert get_device() == torch.device("meta")


def test_fallback_order(monkeypatch):
    monkeypatch.delenv(dev.DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: True)
    assert get_device().type == "mps"
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    assert get_device().type == "cpu"


def test_bad_device_string(monkeypatch):
    with pytest.raises(ValueError, match="expected a device"):
        get_device("gpu-please")
    monkeypatch.setenv(dev.DEVICE_ENV, "nonsense")
    with pytest.raises(ValueError, match="LSTM_COURSE_DEVICE"):
        get_device()


def test_seed_everything_repeats_all_generators():
    seed_everything(123)
    a = (random.random(), np.random.rand(), torch.rand(3))
    seed_everything(123)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    seed_everything(124)
    assert random.random() != a[0]


def test_seed_everything_rejects_bad_seed():
    with pytest.raises(ValueError, match="expected a seed"):
        seed_everything(-1)
    with pytest.raises(TypeError):
        seed_everything("7")


def test_model_device_follows_parameters_then_buffers_then_default():
    # "meta" tensors have a device but no data: a device no test machine would pick by itself
    assert model_device(nn.Linear(2, 2, device="meta")) == torch.device("meta")
    only_buffer = nn.Module()
    only_buffer.register_buffer("table", torch.zeros(3, device="meta"))
    assert model_device(only_buffer) == torch.device("meta")
    assert model_device(nn.ReLU()) == torch.get_default_device()  # nothing to follow: where new tensors go


def test_step_by_step_kernels_switch_off_onednn_on_a_cpu_only_inside_the_block() -> None:
    from lstm_course.device import step_by_step_kernels

    assert torch.backends.mkldnn.enabled
    with step_by_step_kernels("cpu"):
        assert not torch.backends.mkldnn.enabled
    assert torch.backends.mkldnn.enabled
    with pytest.raises(KeyError):  # restored when the block fails too
        with step_by_step_kernels(torch.device("cpu")):
            raise KeyError("boom")
    assert torch.backends.mkldnn.enabled
    with step_by_step_kernels("cuda"):  # a GPU's LSTM is cuDNN's: nothing to change (no GPU needed to check)
        assert torch.backends.mkldnn.enabled


def test_step_by_step_kernels_give_the_same_lstm_step_as_onednn() -> None:
    from lstm_course.device import step_by_step_kernels

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(8, 16, num_layers=2, batch_first=True)
    x, h = torch.randn(3, 1, 8), (torch.randn(2, 3, 16), torch.randn(2, 3, 16))  # (B, T=1, I), (L, B, H)
    ref, (h_ref, c_ref) = lstm(x, h)
    with step_by_step_kernels("cpu"):
        out, (h_n, c_n) = lstm(x, h)
    for a, b in ((out, ref), (h_n, h_ref), (c_n, c_ref)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
