import random

import numpy as np
import pytest
from mlcraft.seeding import seed_everything

torch = pytest.importorskip("torch")

from mlcraft.seeding import make_generator, set_deterministic, worker_init_fn  # noqa: E402


class Noisy(torch.utils.data.Dataset):
    """Each item draws NumPy noise: reproducible only if workers are seeded."""

    def __len__(self):
        return 64

    def __getitem__(self, i):
        x = torch.full((4,), i / 64) + torch.from_numpy(np.random.normal(size=4)).float()
        return x, x.sum(0, keepdim=True)


def _train(seed: int, workers: int = 0) -> dict:
    seed_everything(seed)
    set_deterministic(True)
    loader = torch.utils.data.DataLoader(
        Noisy(), batch_size=8, shuffle=True, num_workers=workers,
        worker_init_fn=worker_init_fn, generator=make_generator(seed),
    )  # fmt: skip
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 16), torch.nn.Dropout(0.2), torch.nn.Linear(16, 1)
    )
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    for _ in range(2):
        for x, y in loader:
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            opt.step()
    set_deterministic(False)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _identical(a: dict, b: dict) -> bool:
    assert all(torch.isfinite(v).all() for v in a.values())
    return all(torch.equal(a[k], b[k]) for k in a)


def test_two_trainings_give_bitwise_identical_weights():
    assert _identical(_train(3), _train(3))
    assert not _identical(_train(3), _train(4))


def test_worker_seeding_makes_multiprocess_loading_reproducible():
    assert _identical(_train(5, workers=2), _train(5, workers=2))


def test_seed_everything_seeds_python_and_numpy():
    seed_everything(11)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(11)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)
