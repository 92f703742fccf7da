"""A whole LeNet (conv, BatchNorm, ReLU, max-pool, dropout, linear) trained side by side with PyTorch's.

The layers are proved one by one in their own files; here they train together: both
frameworks start from identical weights (torch's state_dict loaded into ndgrad's model), take
the same SGD steps on the same batches, and must agree on every loss, every parameter and
the BatchNorm running statistics afterwards. Dropout, whose masks the two frameworks draw
from different generators, is checked apart: the same statistics, and reproducible under
``manual_seed``.
"""

import numpy as np
import pytest
import torch

import autograd as ag
import nn
import nn.functional as F
import optim
from conftest import assert_close

TOL = {np.float64: dict(rtol=1e-9, atol=1e-11), np.float32: dict(rtol=2e-4, atol=2e-5)}
BATCH, STEPS = 16, 5


def lenet(nn, dropout=0.5):
    """LeNet-5 on 1x28x28 images, with BatchNorm and dropout; ``nn`` is ndgrad's or torch's."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),  # 6x14x14
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),  # 16x5x5
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def batches(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.uniform(0, 1, (BATCH, 1, 28, 28)).astype(dtype), rng.integers(0, 10, BATCH))
            for _ in range(STEPS)]


def twins(dtype, dropout):
    torch.manual_seed(0)
    tmodel = lenet(torch.nn, dropout).to(torch.float64 if dtype == np.float64 else torch.float32)
    model = lenet(nn, dropout).to(dtype=dtype)
    model.load_state_dict({k: v.numpy() for k, v in tmodel.state_dict().items()})
    return model, tmodel


def train_steps(model, optimizer, data, cross_entropy, as_tensor):
    losses = []
    for x, y in data:
        loss = cross_entropy(model(as_tensor(x)), as_tensor(y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dropout", ["p=0", "eval"])
def test_training_trajectory_matches_pytorch(device, dtype, dropout):
    # dropout out of the way, the two ways PyTorch users do it: p=0, or that one layer in eval
    model, tmodel = twins(dtype, dropout=0.0 if dropout == "p=0" else 0.5)
    model.to(device)
    if dropout == "eval":
        model[11].eval()
        tmodel[11].eval()
    options = dict(lr=0.05, momentum=0.9, weight_decay=1e-3)
    data = batches(dtype)
    losses = train_steps(model, optim.SGD(model.parameters(), **options), data, F.cross_entropy,
                         lambda a: ag.tensor(a, device=device))
    expected = train_steps(tmodel, torch.optim.SGD(tmodel.parameters(), **options), data,
                           torch.nn.functional.cross_entropy, torch.from_numpy)
    tol = TOL[dtype]
    assert_close(np.array(losses), np.array(expected), **tol, msg="losses")

    state, tstate = model.state_dict(), tmodel.state_dict()
    assert list(state) == list(tstate)
    for key, value in tstate.items():  # parameters, running_mean/var, num_batches_tracked
        assert_close(state[key], value.numpy(), **tol, msg=key)
    assert state["1.num_batches_tracked"].item() == STEPS

    model.eval()
    tmodel.eval()  # now BatchNorm normalises with the running statistics it gathered
    x = data[0][0]
    with ag.no_grad(), torch.no_grad():
        assert_close(model(ag.tensor(x, device=device)), tmodel(torch.from_numpy(x)), **tol, msg="eval output")


def test_dropout_mask_statistics_match_pytorch():
    """nn.Dropout in training, in both frameworks, on many rows of 100: the same fraction dropped, drops
    per row spread as a binomial's, kept elements scaled by 1 / (1 - p), fresh masks call to call."""
    p, rows, width = 0.3, 2000, 100
    ag.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = nn.Dropout(p), torch.nn.Dropout(p)
    ones, tones = ag.ones(rows, width), torch.ones(rows, width)
    for first, second in ((ours(ones).numpy(), ours(ones).numpy()), (theirs(tones).numpy(), theirs(tones).numpy())):
        dropped = first == 0
        assert abs(dropped.mean() - p) < 0.005  # 200,000 draws: 5 standard deviations
        per_row = dropped.sum(1)
        assert abs(per_row.std() - np.sqrt(width * p * (1 - p))) < 0.3
        assert_close(first[~dropped], np.full((~dropped).sum(), 1 / (1 - p), np.float32), rtol=1e-6)
        both = (dropped & (second == 0)).mean()
        assert abs(both - p * p) < 0.005  # two calls draw independent masks


def test_dropout_training_reproducible_with_manual_seed():
    """The same seed gives the same dropout masks, so the same training run, bitwise; another seed does not."""
    data = batches(np.float32, seed=1)

    def run(seed):
        model, _ = twins(np.float32, dropout=0.5)
        ag.manual_seed(seed)
        losses = train_steps(model, optim.SGD(model.parameters(), lr=0.05), data, F.cross_entropy, ag.tensor)
        return losses, {k: v.numpy() for k, v in model.state_dict().items()}

    (losses_a, state_a), (losses_b, state_b), (losses_c, _) = run(5), run(5), run(6)
    assert losses_a == losses_b
    for key, value in state_a.items():
        np.testing.assert_array_equal(value, state_b[key], err_msg=key)
    assert losses_a[0] != losses_c[0]  # other masks from the first forward on
