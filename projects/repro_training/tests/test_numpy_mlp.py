import numpy as np
from repro_training import data
from repro_training.config import DataConfig
from repro_training.numpy_mlp import NumpyMLP, gradient_check, train_digits


def test_gradients_match_torch_autograd():
    check = gradient_check()
    assert check["max_abs_grad_diff"] < 1e-12
    assert check["loss_diff"] < 1e-12


def test_gradient_check_can_fail():
    # A broken backward (ReLU mask dropped) must be caught by the same comparison.
    original = NumpyMLP.backward

    def broken(self, dlogits, cache):
        grads = original(self, dlogits, cache)
        grads["W1"] = cache["x"].T @ (dlogits @ self.params["W2"].T)
        return grads

    NumpyMLP.backward = broken
    try:
        assert gradient_check()["max_abs_grad_diff"] > 1e-6
    finally:
        NumpyMLP.backward = original


def test_sgd_momentum_matches_torch():
    import torch

    mlp = NumpyMLP(4, 3, 2, seed=0)
    w = torch.tensor(mlp.params["W1"].copy(), requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=0.01)
    for _ in range(3):
        grad = np.full_like(mlp.params["W1"], 0.5)
        mlp.sgd_step({k: (grad if k == "W1" else np.zeros_like(v)) for k, v in mlp.params.items()},
                     0.1, 0.9, 0.01)  # fmt: skip
        w.grad = torch.tensor(grad)
        opt.step()
    np.testing.assert_allclose(mlp.params["W1"], w.detach().numpy(), rtol=0, atol=1e-12)


def test_mlp_learns_digits():
    split = data.load(DataConfig(name="digits"))
    _, accuracy, curve = train_digits(split, epochs=8)
    assert curve[-1] < curve[0] / 3
    assert accuracy > 0.93  # chance is 0.10
