"""Half-rate and coarse views computed on demand equal the stored decimations exactly."""

import numpy as np
import pytest

from app.engine.halfrate import HalfRate, as_array, coarse_view, decimate


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(0).standard_normal(16000 * 7 + 5).astype(np.float32)


def test_decimate_is_the_block_mean(x: np.ndarray) -> None:
    got = decimate(x, 4)
    assert got.size == x.size // 4 and got.dtype == np.float32
    np.testing.assert_allclose(got, x[: got.size * 4].reshape(-1, 4).mean(axis=1), atol=1e-6)
    assert decimate(x, 1) is x


@pytest.mark.parametrize("bounds", [(0, None), (5, 17), (-100, None), (0, 0), (30, 10),
                                    (55_999, 56_010), (None, 3)])
def test_half_rate_slices_are_exact(x: np.ndarray, bounds: tuple[int | None, int | None]
                                    ) -> None:
    view, stored = HalfRate(x), decimate(x, 2)
    assert view.size == len(view) == stored.size
    a, b = bounds
    assert np.array_equal(view[a:b], stored[a:b])


def test_half_rate_refuses_what_it_cannot_slice(x: np.ndarray) -> None:
    view = HalfRate(x)
    with pytest.raises(ValueError):
        view[::2]
    with pytest.raises(TypeError):
        view[3]  # type: ignore[index]
    assert np.array_equal(as_array(view), decimate(x, 2))
    assert as_array(x) is x


@pytest.mark.parametrize(("factor", "chunk"), [(4, 1000), (4, 1 << 20), (5, 77), (1, 64)])
def test_coarse_view_equals_two_stage_decimation(x: np.ndarray, factor: int, chunk: int
                                                 ) -> None:
    assert np.array_equal(coarse_view(x, factor, chunk=chunk), decimate(decimate(x, 2), factor))
