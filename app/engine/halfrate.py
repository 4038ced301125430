"""Lower-rate views of a decoded track without storing them.

The timeline measures its windows at half the analysis rate. Stored, that view of an hour at
16 kHz is 115 MB per track, and fresh memory is not free: its pages are zeroed on first touch
(on a VM whose host reclaims free memory, ~1.7 s per GB). :class:`HalfRate` decimates only
the slices asked for, sample for sample what :func:`decimate` would have stored.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["Signal", "HalfRate", "decimate", "as_array", "coarse_view"]


class Signal(Protocol):
    """A mono float32 signal that can be sliced (``x[a:b]`` → array) and has a ``size``:
    an array or a :class:`HalfRate`."""

    @property
    def size(self) -> int: ...

    def __getitem__(self, index: slice, /) -> np.ndarray: ...


def decimate(x: np.ndarray, factor: int) -> np.ndarray:
    """Block-mean decimation by ``factor`` (a cheap low-pass): ``out[i]`` is the mean of
    ``x[i*factor : (i+1)*factor]``, summed in order, float32."""
    if factor <= 1:
        return x
    n = x.size // factor
    out = np.array(x[0 : n * factor : factor], dtype=np.float32)  # strided sums: ~15x faster
    for k in range(1, factor):  # than a reshape-mean over a short axis
        out += x[k : n * factor : factor]
    out *= np.float32(1.0 / factor)
    return out


class HalfRate:
    """``x`` at half its rate, decimated on demand: ``view[a:b]`` equals
    ``decimate(x, 2)[a:b]`` exactly, and nothing else is stored."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        self._size = x.size // 2

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, index: slice, /) -> np.ndarray:
        if not isinstance(index, slice):
            raise TypeError("HalfRate supports slices only")
        start, stop, step = index.indices(self._size)
        if step != 1:
            raise ValueError("HalfRate supports contiguous slices only")
        stop = max(stop, start)
        return decimate(self.x[2 * start : 2 * stop], 2)


def as_array(x: Signal) -> np.ndarray:
    """The whole signal as an array (materialises a :class:`HalfRate`)."""
    return x if isinstance(x, np.ndarray) else x[0 : x.size]


def coarse_view(x: np.ndarray, factor: int, *, chunk: int = 1 << 20) -> np.ndarray:
    """``decimate(decimate(x, 2), factor)`` exactly, computed chunk by chunk so the half-rate
    signal in between is never stored whole."""
    step = 2 * factor
    n = x.size // step
    out = np.empty(n, np.float32)
    per = max(1, chunk // step)
    for i in range(0, n, per):
        j = min(i + per, n)
        out[i:j] = decimate(decimate(x[i * step : j * step], 2), factor)
    return out
