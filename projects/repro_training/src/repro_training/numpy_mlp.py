"""The from-scratch rung: a one-hidden-layer MLP in NumPy (forward, backward, SGD with momentum).

Written once by hand so every line of backprop is visible, and checked against torch autograd
(`gradient_check`) so a reader can trust it.
"""

from __future__ import annotations

import numpy as np


class NumpyMLP:
    """x -> relu(x W1 + b1) -> W2 + b2 -> softmax cross-entropy (float64 throughout)."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        # He initialisation for the ReLU layer, Glorot-ish for the output layer.
        self.params = {
            "W1": rng.normal(0, np.sqrt(2.0 / n_in), (n_in, n_hidden)),
            "b1": np.zeros(n_hidden),
            "W2": rng.normal(0, np.sqrt(1.0 / n_hidden), (n_hidden, n_out)),
            "b2": np.zeros(n_out),
        }
        self.velocity = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, dict]:
        p = self.params
        pre = x @ p["W1"] + p["b1"]
        hidden = np.maximum(pre, 0.0)
        logits = hidden @ p["W2"] + p["b2"]
        return logits, {"x": x, "pre": pre, "hidden": hidden}

    @staticmethod
    def loss_and_dlogits(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        shifted = logits - logits.max(axis=1, keepdims=True)  # stable log-softmax
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = len(y)
        loss = -log_probs[np.arange(n), y].mean()
        dlogits = np.exp(log_probs)
        dlogits[np.arange(n), y] -= 1.0  # d(mean CE)/d logits = (softmax - onehot) / n
        return float(loss), dlogits / n

    def backward(self, dlogits: np.ndarray, cache: dict) -> dict[str, np.ndarray]:
        p = self.params
        dW2 = cache["hidden"].T @ dlogits
        db2 = dlogits.sum(axis=0)
        dhidden = dlogits @ p["W2"].T
        dpre = dhidden * (cache["pre"] > 0)  # ReLU passes gradient where its input was positive
        dW1 = cache["x"].T @ dpre
        db1 = dpre.sum(axis=0)
        return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict]:
        logits, cache = self.forward(x)
        loss, dlogits = self.loss_and_dlogits(logits, y)
        return loss, self.backward(dlogits, cache)

    def sgd_step(self, grads: dict, lr: float, momentum: float, weight_decay: float) -> None:
        """torch.optim.SGD's rule: v = mu v + (g + wd w); w -= lr v."""
        for name, w in self.params.items():
            g = grads[name] + weight_decay * w
            self.velocity[name] = momentum * self.velocity[name] + g
            w -= lr * self.velocity[name]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)[0].argmax(axis=1)


def gradient_check(n_in: int = 64, n_hidden: int = 16, n_out: int = 10, n: int = 32, seed: int = 0):
    """Max |grad_numpy - grad_torch| over all parameters, and the loss difference (float64)."""
    import torch

    rng = np.random.default_rng(seed + 1)
    x = rng.normal(size=(n, n_in))
    y = rng.integers(0, n_out, size=n)
    mlp = NumpyMLP(n_in, n_hidden, n_out, seed)
    loss, grads = mlp.loss_and_grads(x, y)

    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in mlp.params.items()}
    xt = torch.tensor(x)
    logits = torch.relu(xt @ t["W1"] + t["b1"]) @ t["W2"] + t["b2"]
    t_loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y))
    t_loss.backward()
    max_abs = max(float(np.abs(grads[k] - t[k].grad.numpy()).max()) for k in t)
    max_rel = max(
        float(
            np.abs(grads[k] - t[k].grad.numpy()).max() / (np.abs(t[k].grad.numpy()).max() + 1e-30)
        )
        for k in t
    )
    return {"max_abs_grad_diff": max_abs, "max_rel_grad_diff": max_rel,
            "loss_diff": abs(loss - float(t_loss.detach()))}  # fmt: skip


def train_digits(split, hidden=64, epochs=30, lr=0.05, momentum=0.9, batch_size=32,
                 weight_decay=1e-4, seed=0):  # fmt: skip
    """Train on the (uint8) digits split; returns the model, test accuracy and the loss curve."""
    x_train = split.x_train.reshape(len(split.x_train), -1) / 255.0
    x_test = split.x_test.reshape(len(split.x_test), -1) / 255.0
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    mlp = NumpyMLP(x_train.shape[1], hidden, len(split.classes), seed)
    rng = np.random.default_rng(seed)
    curve = []
    for _ in range(epochs):
        order = rng.permutation(len(x_train))
        losses = []
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            loss, grads = mlp.loss_and_grads(x_train[idx], split.y_train[idx])
            mlp.sgd_step(grads, lr, momentum, weight_decay)
            losses.append(loss)
        curve.append(float(np.mean(losses)))
    accuracy = float((mlp.predict(x_test) == split.y_test).mean())
    return mlp, accuracy, curve
