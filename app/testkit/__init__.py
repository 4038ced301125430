"""Test programmes with a known true offset: synthetic/real M&E beds, espeak-ng dialogue,
dub transformations and master/dub file pairs (``offset_seconds > 0``: the dub is late)."""

from .audio_io import (
    DEFAULT_CODECS,
    AudioWriter,
    codec_delay_samples,
    probe_audio,
    read_audio,
    write_audio,
    write_audio_blocks,
)
from .cases import KINDS, Case, dub_remix, make_case, slate
from .programme import Programme, make_programme
from .realbed import APT_PACKAGES, BedSources, find_sources, real_bed
from .speech import LANGUAGES, dialogue_track, sentences, speak
from .synth import synth_bed, synth_bed_blocks
from .transforms import (
    add_noise,
    change_gain,
    compress,
    crossfade_concat,
    delay,
    downmix_stereo,
    equalize,
    invert_polarity,
    remix,
    replace_cue,
    resample,
    shuffle_cues,
    take_part,
    to_51,
)

__all__ = [
    "APT_PACKAGES",
    "DEFAULT_CODECS",
    "KINDS",
    "AudioWriter",
    "LANGUAGES",
    "BedSources",
    "Case",
    "Programme",
    "add_noise",
    "change_gain",
    "codec_delay_samples",
    "compress",
    "crossfade_concat",
    "delay",
    "dialogue_track",
    "downmix_stereo",
    "dub_remix",
    "equalize",
    "find_sources",
    "invert_polarity",
    "make_case",
    "make_programme",
    "probe_audio",
    "read_audio",
    "real_bed",
    "remix",
    "replace_cue",
    "resample",
    "sentences",
    "shuffle_cues",
    "slate",
    "speak",
    "synth_bed",
    "synth_bed_blocks",
    "take_part",
    "to_51",
    "write_audio",
    "write_audio_blocks",
]
