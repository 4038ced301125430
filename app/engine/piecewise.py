"""The dub as pieces of the master: broadcast versions with ad breaks, long cuts, re-cuts.

When no single offset line explains the dub, the dub is cut into chunks (``CHUNK_SECONDS``
long, every ``HOP_SECONDS``) and each chunk is placed in the master on its own, on the
band-wise spectral flux brought down to ``RATE`` frames per second: first around the previous
chunk's offset (±``LOCAL_SECONDS``), and over the whole master only where that fails, so the
cost stays near linear in the programme length. A chunk's score at master position p is its
mean band correlation with the master frames there; its statistic is the robust z-score of
the peak over all positions searched, kept when it clears √(2 ln N) + 3 for N positions.

Consecutive placed chunks whose offsets agree within ``AGREE_SECONDS`` form a :class:`Piece`;
chunks that fit nowhere (an ad break, new material) or have no shared sound (dialogue alone)
lie between pieces. Offsets: dub time = master time + offset (> 0 = dub late), seconds.
The pieces are candidates: the pipeline measures each one exactly and places every edit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Piece", "ChunkMatch", "place_chunks", "pieces_of", "merge_close", "RATE"]

RATE = 100.0           # frames per second of the chunk search (the feature frames)
CHUNK_SECONDS = 10.0
HOP_SECONDS = 5.0
LOCAL_SECONDS = 12.0
AGREE_SECONDS = 0.08   # two frames at RATE
MIN_CHUNKS = 2         # a piece is confirmed by at least this many chunks


@dataclass(frozen=True)
class ChunkMatch:
    """Chunk [dub_start, dub_start + CHUNK_SECONDS) s of the dub: offset (s) or None, z."""

    dub_start_seconds: float
    offset_seconds: float | None
    z: float


@dataclass(frozen=True)
class Piece:
    """Dub seconds [dub_start, dub_end) follow the master at ``offset_seconds`` (coarse)."""

    dub_start_seconds: float
    dub_end_seconds: float
    offset_seconds: float
    chunks: int
    z: float

    @property
    def master_start_seconds(self) -> float:
        return self.dub_start_seconds - self.offset_seconds

    @property
    def master_end_seconds(self) -> float:
        return self.dub_end_seconds - self.offset_seconds


def _downsample(flux: np.ndarray, frame_rate: float) -> np.ndarray:
    """(T, bands) flux at ``frame_rate`` → log-compressed frames at :data:`RATE`."""
    step = max(1, int(round(frame_rate / RATE)))
    x = np.log1p(np.maximum(np.asarray(flux, np.float64), 0.0) * 10.0)
    if x.ndim == 1:
        x = x[:, None]
    n = x.shape[0] // step
    return x[: n * step].reshape(n, step, x.shape[1]).mean(axis=1)


class _Master:
    """The master's frames with running sums (for the local mean and spread of any span)."""

    def __init__(self, m: np.ndarray, chunk: int) -> None:
        self.m = m
        self.chunk = chunk
        z = np.zeros((1, m.shape[1]))
        self.c1 = np.vstack([z, np.cumsum(m, axis=0)])
        self.c2 = np.vstack([z, np.cumsum(m * m, axis=0)])
        self.n = 1 << int(np.ceil(np.log2(m.shape[0] + chunk)))
        self._spec: np.ndarray | None = None

    @property
    def spec(self) -> np.ndarray:
        if self._spec is None:
            self._spec = np.conj(np.fft.rfft(self.m, self.n, axis=0))
        return self._spec

    def spread(self, p0: int, p1: int) -> np.ndarray:
        """(positions, bands) standard deviation of master frames p .. p + chunk."""
        c = self.chunk
        s1 = self.c1[p0 + c:p1 + c] - self.c1[p0:p1]
        s2 = self.c2[p0 + c:p1 + c] - self.c2[p0:p1]
        return np.sqrt(np.maximum(s2 / c - (s1 / c) ** 2, 0.0))


def _scores(d: np.ndarray, master: _Master, p0: int, p1: int) -> np.ndarray:
    """Mean band correlation of the standardised chunk ``d`` with master frames starting at
    each position p0 .. p1 - 1."""
    c = master.chunk
    if p1 - p0 > 4 * c + 64:  # long span: through the master's spectrum
        raw = np.fft.irfft(np.fft.rfft(d, master.n, axis=0) * master.spec, master.n, axis=0)
        raw = np.roll(raw[::-1], 1, axis=0)[p0:p1]  # raw[p] = sum_i d[i] m[p + i]
    else:
        seg = master.m[p0:p1 + c - 1]
        raw = np.stack([np.correlate(seg[:, b], d[:, b], mode="valid")
                        for b in range(d.shape[1])], axis=1)
    sd = master.spread(p0, p1)
    ok = sd > 1e-6
    r = np.where(ok, raw / (c * np.where(ok, sd, 1.0)), 0.0)
    return np.asarray(r.mean(axis=1))


def _peak(score: np.ndarray) -> tuple[int, float]:
    """(index of the peak, its robust z-score)."""
    best = int(np.argmax(score))
    med = float(np.median(score))
    mad = float(np.median(np.abs(score - med))) * 1.4826
    return best, (float(score[best]) - med) / max(mad, 1e-9)


def place_chunks(master_flux: np.ndarray, dub_flux: np.ndarray, *,
                 frame_rate: float) -> list[ChunkMatch]:
    """Each dub chunk's offset in the master (None where it fits nowhere or is silent)."""
    m, d_all = _downsample(master_flux, frame_rate), _downsample(dub_flux, frame_rate)
    chunk, hop = int(CHUNK_SECONDS * RATE), int(HOP_SECONDS * RATE)
    if m.shape[0] < chunk + 16 or d_all.shape[0] < chunk:
        return []
    master = _Master(m, chunk)
    positions = m.shape[0] - chunk + 1
    global_threshold = float(np.sqrt(2 * np.log(positions))) + 3.0
    local = int(LOCAL_SECONDS * RATE)
    local_threshold = float(np.sqrt(2 * np.log(2 * local + 1))) + 3.0
    out: list[ChunkMatch] = []
    prior: int | None = None  # master position the next chunk is expected at
    for j in range(0, d_all.shape[0] - chunk + 1, hop):
        d = d_all[j:j + chunk]
        sd = d.std(axis=0)
        if float(sd.max()) < 1e-6:
            out.append(ChunkMatch(j / RATE, None, 0.0))
            prior = None if prior is None else prior + hop
            continue
        d = (d - d.mean(axis=0)) / np.where(sd > 1e-6, sd, np.inf)
        found: tuple[int, float] | None = None
        if prior is not None and 0 <= prior < positions:
            p0, p1 = max(0, prior - local), min(positions, prior + local + 1)
            best, z = _peak(_scores(d, master, p0, p1))
            if z >= local_threshold and abs(p0 + best - prior) <= 2:
                found = (p0 + best, z)
        if found is None:
            best, z = _peak(_scores(d, master, 0, positions))
            if z >= global_threshold:
                found = (best, z)
        if found is None:
            out.append(ChunkMatch(j / RATE, None, 0.0))
            prior = None if prior is None else prior + hop
        else:
            out.append(ChunkMatch(j / RATE, (j - found[0]) / RATE, found[1]))
            prior = found[0] + hop
    return out


def pieces_of(matches: list[ChunkMatch]) -> list[Piece]:
    """Runs of chunks that agree on one offset (unplaced chunks may lie inside a run), each
    confirmed by :data:`MIN_CHUNKS` chunks at least, in dub order."""
    runs: list[list[ChunkMatch]] = []
    for c in matches:
        if c.offset_seconds is None:
            continue
        if runs and abs(runs[-1][-1].offset_seconds - c.offset_seconds) <= AGREE_SECONDS:  # type: ignore[operator]
            runs[-1].append(c)
        else:
            runs.append([c])
    out = []
    for run in runs:
        if len(run) < MIN_CHUNKS:
            continue
        offs = np.array([c.offset_seconds for c in run], dtype=float)
        out.append(Piece(run[0].dub_start_seconds, run[-1].dub_start_seconds + CHUNK_SECONDS,
                         float(np.median(offs)), len(run), float(np.median([c.z for c in run]))))
    return out


def merge_close(pieces: list[Piece], *, within_seconds: float) -> list[Piece]:
    """Consecutive pieces whose offsets differ by at most ``within_seconds`` (a short cut or
    insertion between them) as one piece, so that one exact analysis of their stretch
    measures the edit inside it to the window, not the chunk; offset: the first's."""
    out: list[Piece] = []
    for p in pieces:
        last = out[-1] if out else None
        if last is not None and abs(p.offset_seconds - last.offset_seconds) <= within_seconds \
                and p.dub_start_seconds - last.dub_end_seconds <= CHUNK_SECONDS:
            out[-1] = Piece(last.dub_start_seconds, max(last.dub_end_seconds, p.dub_end_seconds),
                            last.offset_seconds, last.chunks + p.chunks, min(last.z, p.z))
        else:
            out.append(p)
    return out

