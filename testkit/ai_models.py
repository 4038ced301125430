"""Tiny stand-in models with the real formats, for tests and the benchmark (no hub access):
a random few-layer Wav2Vec2 written with ``save_pretrained`` and a SavedModel with YAMNet's
signature (waveform in; scores, embeddings, log-mel out)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["make_tiny_wav2vec2", "make_tiny_yamnet"]


def make_tiny_wav2vec2(directory: str | Path, *, hidden_size: int = 32, layers: int = 2,
                       seed: int = 0) -> Path:
    """Write a random Wav2Vec2 (``layers`` transformer layers, ``hidden_size`` values per frame,
    the real 7-layer conv front end: 320-sample hop at 16 kHz) and its feature extractor to
    ``directory`` with ``save_pretrained``; returns the directory."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(seed)
    config = Wav2Vec2Config(
        hidden_size=hidden_size, num_hidden_layers=layers, num_attention_heads=2,
        intermediate_size=2 * hidden_size, conv_dim=(32,) * 7,
        conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, vocab_size=8,
        do_stable_layer_norm=False, feat_extract_norm="group")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    Wav2Vec2Model(config).eval().save_pretrained(out)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                             do_normalize=True, return_attention_mask=False
                             ).save_pretrained(out)
    return out


def make_tiny_yamnet(directory: str | Path, *, seed: int = 0) -> Path:
    """Save a SavedModel with YAMNet's interface to ``directory``: a float32 waveform (16 kHz,
    any length) in; ``(scores (N, 521), embeddings (N, 1024), log_mel (M, 64))`` out, with
    25 ms/10 ms log-mel frames and 0.96 s patches every 0.48 s, like YAMNet. The embedding is a
    fixed random projection of each patch (enough structure for timing, no training)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    mel = np.abs(rng.standard_normal((257, 64))).astype(np.float32) / 16.0
    w_emb = (rng.standard_normal((64 * 4, 1024)) / 16.0).astype(np.float32)
    w_scores = (rng.standard_normal((1024, 521)) / 32.0).astype(np.float32)

    class TinyYamnet(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mel = tf.Variable(mel, trainable=False)
            self.w_emb = tf.Variable(w_emb, trainable=False)
            self.w_scores = tf.Variable(w_scores, trainable=False)

        @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.float32)])
        def __call__(self, waveform: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            need = 15600 - tf.shape(waveform)[0]
            wave = tf.pad(waveform, [[0, tf.maximum(need, 0)]])
            stft = tf.abs(tf.signal.stft(wave, frame_length=400, frame_step=160,
                                         fft_length=512))
            log_mel = tf.math.log(tf.matmul(stft, self.mel) + 1e-3)  # (M, 64)
            patches = tf.signal.frame(log_mel, 96, 48, axis=0)  # (N, 96, 64)
            pooled = tf.reshape(tf.reduce_mean(tf.reshape(patches, [-1, 4, 24, 64]), axis=2),
                                [-1, 4 * 64])  # four 0.24 s means per patch
            pooled = pooled - tf.reduce_mean(pooled, axis=1, keepdims=True)
            embeddings = tf.nn.relu(tf.matmul(pooled, self.w_emb))
            scores = tf.sigmoid(tf.matmul(embeddings, self.w_scores))
            return scores, embeddings, log_mel

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    module = TinyYamnet()
    tf.saved_model.save(module, str(out))
    return out
