"""autograd.numerical's second half: gradgradcheck (as torch's), the complex step, Richardson extrapolation
and the truncation-versus-rounding sweep of a stencil's step size."""

import numpy as np
import pytest

import autograd as ag
from autograd import numerical

torch = pytest.importorskip("torch")


def _square_with_broken_double_backward(lib):
    """x**2 whose backward is right but not differentiable (it detaches x): gradcheck passes, gradgradcheck not."""
    base = torch.autograd.Function if lib is torch else ag.Function

    class Square(base):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return grad * 2 * x.detach()
    return Square.apply


CASES = {
    "sin_times_x": (lambda lib: (lambda x: x.sin() * x), [(3,)]),
    "matmul_tanh": (lambda lib: (lambda a, b: (a @ b).tanh()), [(2, 3), (3, 2)]),
    "two_outputs": (lambda lib: (lambda x: (x.exp(), (x * x).sum())), [(4,)]),
    "broken_double_backward": (_square_with_broken_double_backward, [(3,)]),
    "linear_in_x": (lambda lib: (lambda x: x * 3.0), [(3,)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradgradcheck_agrees_with_torch(name):
    make, shapes = CASES[name]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    ours = numerical.gradgradcheck(make(ag), [ag.tensor(a, requires_grad=True) for a in arrays],
                                   raise_exception=False)
    theirs = torch.autograd.gradgradcheck(make(torch), [torch.tensor(a, requires_grad=True) for a in arrays],
                                          raise_exception=False)
    assert ours == theirs
    assert numerical.gradcheck(lambda *xs: _first(make(ag)(*xs)), [ag.tensor(a, requires_grad=True) for a in arrays])


def _first(out):
    return out[0] if isinstance(out, tuple) else out


def test_gradgradcheck_raises_naming_the_mismatch_and_takes_grad_outputs():
    x = ag.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    with pytest.raises(AssertionError, match="Jacobian mismatch"):
        numerical.gradgradcheck(_square_with_broken_double_backward(ag), [x])
    g = ag.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    assert numerical.gradgradcheck(lambda v: v.exp(), [x], [g])
    with pytest.raises(ValueError, match="one per output"):
        numerical.gradgradcheck(lambda v: v.exp(), [x], [g, g])


ANALYTIC = [
    (np.sin, np.cos),
    (np.exp, np.exp),
    (lambda x: x ** 3 / (1 + x * x), lambda x: (3 * x ** 2 + x ** 4) / (1 + x * x) ** 2),
    (lambda x: np.exp(x) / np.sqrt(np.sin(x) ** 3 + np.cos(x) ** 3),  # Squire and Trapp's test function
     lambda x: np.exp(x) * (np.sin(x) ** 3 + np.cos(x) ** 3 - 1.5 * (np.sin(x) ** 2 * np.cos(x)
                                                                       - np.cos(x) ** 2 * np.sin(x)))
     / (np.sin(x) ** 3 + np.cos(x) ** 3) ** 1.5),
]


@pytest.mark.parametrize("f, df", ANALYTIC)
def test_complex_step_is_exact_to_machine_precision(f, df):
    x = np.linspace(0.1, 1.4, 7)
    np.testing.assert_allclose(numerical.complex_step(f, x), df(x), rtol=4 * np.finfo(np.float64).eps, atol=0)
    best_difference = numerical.stencil(f, x, 1e-5)  # near its best step, a difference is still far less exact
    assert np.max(np.abs(best_difference - df(x)) / np.abs(df(x))) > 1e-12


def test_complex_step_refuses_a_function_that_drops_the_imaginary_part():
    with pytest.raises(TypeError, match="imaginary part"):
        numerical.complex_step(lambda x: np.abs(x) ** 2, np.array([1.0]))


def _measured_order(estimate, exact, steps):
    errors = [abs(estimate(h) - exact) for h in steps]
    return np.polyfit(np.log(steps), np.log(errors), 1)[0]


@pytest.mark.parametrize("accuracy", [2, 4])
def test_richardson_raises_the_order_by_two_per_level(accuracy):
    f, x, exact = np.exp, 0.5, np.exp(0.5)
    steps = np.array([0.4, 0.2, 0.1]) * (3 if accuracy == 4 else 1)  # large enough to stay clear of rounding
    orders = [_measured_order(lambda h: numerical.richardson(f, x, h, accuracy=accuracy, levels=k), exact, steps)
              for k in (1, 2, 3)]
    for k, measured in enumerate(orders):
        assert abs(measured - (accuracy + 2 * k)) < 0.3, orders
    second = numerical.richardson(np.sin, 0.3, 0.2, order=2, levels=3)
    assert abs(second + np.sin(0.3)) < 1e-8


@pytest.mark.parametrize("f, x, order, accuracy", [(np.exp, 1.0, 1, 2), (np.sin, 0.7, 1, 4), (np.exp, 0.3, 2, 2)])
def test_error_sweep_is_u_shaped_with_its_minimum_near_the_optimal_step(f, x, order, accuracy):
    sweep = numerical.error_sweep(f, x, order=order, accuracy=accuracy)
    best = np.argmin(sweep.errors)
    assert 0 < best < len(sweep.steps) - 1
    assert sweep.errors[0] > 100 * sweep.errors[best] and sweep.errors[-1] > 100 * sweep.errors[best]
    assert sweep.optimal_step / 10 < sweep.best_step < sweep.optimal_step * 10
    big = sweep.steps > 10 * sweep.optimal_step  # right of the minimum the truncation model explains the error
    np.testing.assert_allclose(sweep.errors[big & (sweep.steps < 0.1)], sweep.truncation[big & (sweep.steps < 0.1)],
                               rtol=0.5)
