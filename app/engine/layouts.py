"""Channel layouts: the labels of each channel by ffmpeg layout name (5.1 = L R C LFE Ls
Rs, SMPTE order) and the level under which a channel counts as silent."""

from __future__ import annotations

__all__ = ["CHANNEL_LABELS", "SILENT_DBFS", "channel_labels"]

#: Channel labels by ffmpeg layout name (5.1 = L R C LFE Ls Rs).
CHANNEL_LABELS: dict[str, tuple[str, ...]] = {
    "mono": ("C",),
    "stereo": ("L", "R"),
    "2.1": ("L", "R", "LFE"),
    "3.0": ("L", "R", "C"),
    "quad": ("L", "R", "Ls", "Rs"),
    "4.0": ("L", "R", "C", "Cs"),
    "5.0": ("L", "R", "C", "Ls", "Rs"),
    "5.0(side)": ("L", "R", "C", "Ls", "Rs"),
    "5.1": ("L", "R", "C", "LFE", "Ls", "Rs"),
    "5.1(side)": ("L", "R", "C", "LFE", "Ls", "Rs"),
    "7.1": ("L", "R", "C", "LFE", "Lrs", "Rrs", "Lss", "Rss"),
    "7.1(wide)": ("L", "R", "C", "LFE", "Ls", "Rs", "Lw", "Rw"),
}
#: below this RMS (dBFS) a channel is reported as silent and not measured
SILENT_DBFS = -70.0


def channel_labels(layout: str | None, channels: int) -> list[str]:
    """Labels of ``channels`` channels in ``layout`` (e.g. 5.1 → L R C LFE Ls Rs); ch0, ch1, …
    when the layout is unknown or does not match the count."""
    labels = CHANNEL_LABELS.get(layout or "", ())
    if len(labels) == channels:
        return list(labels)
    if channels == 6 and not layout:
        return list(CHANNEL_LABELS["5.1"])
    return [f"ch{i}" for i in range(channels)]
