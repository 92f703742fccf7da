"""Device plumbing without a GPU: a NumPy backend registered as cuda:0 stands in for CuPy.

Everything that moves data between devices, creates tensors on a device or keeps
state per device (factories, .to(), Module.to, optimizer state, the training example)
runs here on a second device, and must give the CPU's numbers exactly.
"""

import os
import sys

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F
import optim
from backends import Device


@pytest.mark.parametrize("make", [
    lambda d: ag.zeros(2, 3, device=d), lambda d: ag.ones((2,), device=d), lambda d: ag.full((2,), 1.5, device=d),
    lambda d: ag.randn(2, device=d), lambda d: ag.rand(2, device=d), lambda d: ag.randint(0, 5, (3,), device=d),
    lambda d: ag.arange(4, device=d), lambda d: ag.linspace(0, 1, 5, device=d), lambda d: ag.eye(2, device=d),
    lambda d: ag.tensor([1.0, 2.0], device=d), lambda d: ag.as_tensor(np.ones(2), device=d),
    lambda d: ag.zeros_like(ag.ones(2, device=d)), lambda d: ag.ones(2).to(d), lambda d: ag.ones(2).cuda(),
])
def test_factories_and_transfers_land_on_the_device(gpu, make):
    t = make("cuda")
    assert t.device == Device("cuda:0") and t._backend is gpu
    assert (t + t).device == Device("cuda:0")


def test_gradients_flow_back_across_devices(gpu):
    x = ag.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = (x.to("cuda") * ag.tensor([2.0, 3.0, 4.0], device="cuda")).cpu() ** 2
    y.sum().backward()
    assert x.grad.device == Device("cpu")
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([2.0, 3.0, 4.0]) ** 2 * [1.0, -2.0, 3.0])


def test_tensor_of_a_device_array_goes_to_the_requested_device(gpu):
    on_gpu = ag.tensor([1.0, 2.0], device="cuda")
    back = ag.tensor(on_gpu, device="cpu")
    assert back.device == Device("cpu") and back.tolist() == [1.0, 2.0]


def mlp():
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))


@pytest.mark.parametrize("make_opt", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                                      lambda p: optim.Adam(p, lr=0.01, amsgrad=True),
                                      lambda p: optim.AdamW(p, lr=0.01)])
def test_training_on_the_device_matches_the_cpu(gpu, make_opt):
    ag.manual_seed(0)
    cpu_model, gpu_model = mlp(), mlp()
    gpu_model.load_state_dict(cpu_model.state_dict())
    params = list(gpu_model.parameters())
    gpu_model.to("cuda")
    assert list(gpu_model.parameters()) == params  # the same Parameter objects, moved in place
    cpu_opt, gpu_opt = make_opt(cpu_model.parameters()), make_opt(gpu_model.parameters())
    rng = np.random.default_rng(0)
    for _ in range(4):
        x, y = rng.standard_normal((5, 6)).astype(np.float32), rng.integers(0, 3, 5)
        losses = []
        for model, opt, device in ((cpu_model, cpu_opt, "cpu"), (gpu_model, gpu_opt, "cuda")):
            loss = F.cross_entropy(model(ag.tensor(x, device=device)), ag.tensor(y, device=device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    for (name, p), q in zip(gpu_model.named_parameters(), cpu_model.parameters()):
        assert p.device == Device("cuda:0") and p.grad.device == Device("cuda:0"), name
        np.testing.assert_allclose(p.detach().cpu().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)
    for state in gpu_opt.state.values():
        for value in state.values():
            if isinstance(value, ag.Tensor):
                assert value.device == Device("cuda:0")


def test_training_example_runs_on_the_device(gpu):
    pytest.importorskip("sklearn")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))
    import train
    cpu = train.main(["--device", "cpu", "--epochs", "2", "--no-progress"])
    cuda = train.main(["--device", "cuda", "--epochs", "2", "--no-progress"])
    for a, b in zip(cpu, cuda):
        assert a["test_acc"] == pytest.approx(b["test_acc"], abs=0.01)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
