"""LinearObs: H applied three ways, R, positions, validation."""

import pytest
import torch

from models.assimilation import LinearObs


def test_subset_matrix_and_identity_agree() -> None:
    E = torch.randn(5, 6, dtype=torch.float64)
    sub = LinearObs.subset(6, [4, 1], noise_std=[0.5, 2.0])
    H = torch.zeros(2, 6, dtype=torch.float64)
    H[0, 4], H[1, 1] = 1.0, 1.0
    dense = LinearObs.matrix(H, noise_std=[0.5, 2.0])
    assert torch.equal(sub.H_apply(E), E[:, [4, 1]])
    assert torch.allclose(dense.H_apply(E), sub.H_apply(E))
    assert torch.equal(sub.dense(), H) and torch.equal(dense.dense(), H)
    assert torch.equal(sub.R_diag, torch.tensor([0.25, 4.0], dtype=torch.float64))
    assert torch.equal(sub.positions, torch.tensor([4.0, 1.0], dtype=torch.float64))
    assert torch.equal(dense.positions, sub.positions)
    ident = LinearObs.identity(6, 0.3)
    assert ident.m == 6 and torch.equal(ident.H_apply(E), E)
    assert torch.allclose(ident.R_diag, torch.full((6,), 0.09, dtype=torch.float64))


def test_dense_positions_use_the_largest_weight() -> None:
    H = torch.tensor([[0.2, 0.5, 0.3, 0.0], [0.0, 0.0, 0.1, -0.9]])
    assert LinearObs.matrix(H).positions.tolist() == [1.0, 3.0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 4, "indices": torch.tensor([0, 4])}, r"\[0, 4\)"),
        ({"n": 4, "indices": torch.tensor([0.5])}, "integers"),
        ({"n": 4, "H": torch.ones(2, 3)}, r"\(m, 4\)"),
        ({"n": 4, "noise_std": 0.0}, "positive"),
        ({"n": 4, "noise_std": [1.0, 2.0]}, "4 entries"),
        ({"n": 4, "indices": torch.tensor([0]), "H": torch.ones(1, 4)}, "not both"),
    ],
)
def test_rejects_bad_input(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        LinearObs(**kwargs)  # type: ignore[arg-type]


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="expects 6"):
        LinearObs.identity(6).H_apply(torch.zeros(3, 5))
