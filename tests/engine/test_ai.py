"""The AI models and the ``ai`` method: registry, shipped ONNX models, tiny Wav2Vec2/YAMNet in a
temporary model cache, accuracy on test programmes, speech-activity weighting, devices."""

from __future__ import annotations

import importlib.util
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from app.engine import AnalysisOptions, ParameterError, ProgressEvent, analyze_files
from app.engine.ai import registry as registry_module
from app.engine.ai.embeddings import cosine_xcorr, embed_track, prepare
from app.engine.ai.registry import MODEL_NAMES, ModelRegistry, ModelUnavailable
from app.engine.ai.vad import VAD_FRAME_RATE, speech_weights
from testkit import dialogue_track, make_case, synth_bed

HAS_ONNX = importlib.util.find_spec("onnxruntime") is not None and \
    registry_module.package_file("silero_vad", "data/silero_vad.onnx") is not None
HAS_TORCH = all(importlib.util.find_spec(p) is not None for p in ("torch", "transformers"))
HAS_TF = all(importlib.util.find_spec(p) is not None for p in ("tensorflow", "tensorflow_hub"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="onnxruntime/silero-vad/basic-pitch not "
                                "installed (pip install -r requirements-ai.txt ...)")
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch/transformers not installed")
needs_tf = pytest.mark.skipif(not HAS_TF, reason="tensorflow + tensorflow-hub not installed "
                              "(requirements-ai.txt)")
#: one frame at 25 fps, the usual delivery tolerance (seconds)
ONE_FRAME = 0.040


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """30-s programmes: a different-language remix dub (late), an early one and a clean one."""
    root = tmp_path_factory.mktemp("ai_cases")
    return {
        "remix": make_case("remix", root, seed=3, duration_seconds=30, true_offset_seconds=1.234),
        "negative": make_case("negative", root, seed=3, duration_seconds=30,
                              true_offset_seconds=-2.345),
        "clean": make_case("clean", root, seed=3, duration_seconds=30, true_offset_seconds=0.5),
    }


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary AI_MODEL_CACHE_DIR with a tiny random Wav2Vec2 (and a tiny YAMNet when
    TensorFlow is installed), both written in the real on-disk formats."""
    from testkit.ai_models import make_tiny_wav2vec2, make_tiny_yamnet

    root = tmp_path_factory.mktemp("ai_models")
    if HAS_TORCH:
        make_tiny_wav2vec2(root / "wav2vec2")
    if HAS_TF:
        make_tiny_yamnet(root / "yamnet")
    return root


def _ai(case: object, model: str, cache: Path | str = "ai_models", **kw: object
        ) -> tuple[float, dict[str, object], float]:
    """(ai offset error in seconds, ai diagnostics, ai confidence) of one analysis."""
    r = analyze_files(case.master_path, case.dub_path,  # type: ignore[attr-defined]
                      options=AnalysisOptions(ai_model=model, ai_cache_dir=str(cache),
                                              max_offset_seconds=20, **kw))  # type: ignore[arg-type]
    ai = next(m for m in r.methods if m.method == "ai")
    assert ai.offset_seconds is not None
    return ai.offset_seconds - case.true_offset_seconds, ai.diagnostics, ai.confidence  # type: ignore[attr-defined,operator]


class TestRegistry:
    def test_empty_cache_says_why(self, tmp_path: Path) -> None:
        reg = ModelRegistry(cache_dir=tmp_path)
        status = {s.name: s for s in reg.statuses()}
        assert set(status) == set(MODEL_NAMES)
        assert status["spectral"].available and status["spectral"].reason is None
        assert status["spectral"].frame_rate_hz == 50.0 and status["spectral"].device == "cpu"
        w2v = status["wav2vec2"]
        assert not w2v.available and w2v.load_path is None and w2v.frame_rate_hz == 50.0
        if HAS_TORCH:
            assert "weights not found in AI_MODEL_CACHE_DIR" in (w2v.reason or "")
            assert "wav2vec2/{config.json" in (w2v.reason or "")
        yam = status["yamnet"]
        assert not yam.available and "saved_model.pb" in yam.expected_layout
        with pytest.raises(ModelUnavailable, match="wav2vec2.*unavailable"):
            reg.get("wav2vec2")
        with pytest.raises(ParameterError, match="unknown model"):
            reg.status("whisper")

    def test_missing_package_is_named(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                      ) -> None:
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: None if name == "transformers" else real(name, *a))
        s = ModelRegistry(cache_dir=tmp_path).status("wav2vec2")
        assert not s.available and s.packages["transformers"] is False
        assert "['transformers'] not installed" in (s.reason or "")

    def test_options_validate_model_names(self) -> None:
        with pytest.raises(ParameterError, match="ai_model='silero_vad'"):
            AnalysisOptions(ai_model="silero_vad").validate()
        with pytest.raises(ParameterError, match="ai_batch_size"):
            AnalysisOptions(ai_model="spectral", ai_batch_size=0).validate()

    def test_out_of_memory_falls_back_to_cpu(self, tmp_path: Path) -> None:
        reg = ModelRegistry(cache_dir=tmp_path, batch_size=2)
        cpu = reg.get("spectral", device="cpu")

        class OnGpu:
            name, device, hop, left, right, dim = "spectral", "cuda:0", cpu.hop, cpu.left, \
                cpu.right, cpu.dim

            def embed(self, batch: np.ndarray) -> np.ndarray:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

        x = np.random.default_rng(0).standard_normal(16000 * 25).astype(np.float32)
        run = embed_track(x, model="spectral", registry=reg, backend=OnGpu())  # type: ignore[arg-type]
        assert run.device == "cpu" and run.frames.shape == (1250, 96)
        assert "out of GPU memory on cuda:0" in run.warnings[0] and reg.warnings

    def test_cosine_xcorr_finds_a_shift(self) -> None:
        rng = np.random.default_rng(1)
        m = rng.standard_normal((400, 16)).astype(np.float32)
        d = np.concatenate([rng.standard_normal((37, 16)), m])[:400].astype(np.float32)
        curve = cosine_xcorr(prepare(m, frame_rate=50), prepare(d, frame_rate=50), max_lag=60,
                             min_overlap=100)
        assert curve.first_lag + int(np.nanargmax(curve.values)) == 37


@needs_onnx
class TestShippedOnnxModels:
    def test_silero_vad_shapes_and_speech(self, tmp_path: Path) -> None:
        reg = ModelRegistry(cache_dir=tmp_path)
        assert reg.status("silero_vad").load_path.endswith("silero_vad.onnx")  # type: ignore[union-attr]
        vad = reg.get("silero_vad")
        assert reg.get("silero_vad") is vad  # loaded once
        sr = 16000
        speech = dialogue_track(20.0, sr, language="en", seed=1)
        bed = synth_bed(20.0, sr, seed=1).mean(axis=1)
        p_speech = vad.speech_probability(speech, sample_rate=sr)
        p_bed = vad.speech_probability(bed, sample_rate=sr)
        assert p_speech.shape == (int(np.ceil(speech.size / 512)),)
        assert 0.0 <= p_speech.min() and p_speech.max() <= 1.0
        voiced = np.abs(speech).reshape(-1, 512)[: p_speech.size].max(axis=1) > 0.02
        assert p_speech[voiced].mean() > 0.5 > p_bed.mean() + 0.2
        w = speech_weights(p_speech, n_frames=2000, frame_rate=100.0)
        assert w.shape == (2000,) and w.min() >= 0.15 - 1e-6 and w.max() <= 1.0
        assert VAD_FRAME_RATE == 31.25

    def test_basic_pitch_embedding_shapes(self, tmp_path: Path) -> None:
        reg = ModelRegistry(cache_dir=tmp_path, batch_size=2)
        s = reg.status("basic_pitch")
        assert s.available and s.load_path.endswith("nmp.onnx")  # type: ignore[union-attr]
        assert s.embedding_size == 176 and s.frame_rate_hz == 100.0
        x = synth_bed(12.3, 16000, seed=2).mean(axis=1)
        run = embed_track(x, model="basic_pitch", registry=reg)
        assert run.frames.shape == (int(np.ceil(x.size / 160)), 176) and run.device == "cpu"
        assert np.isfinite(run.frames).all() and 0.0 <= run.frames.min()
        assert run.frames.max() <= 1.0 + 1e-6 and run.frames.std() > 0.01


class TestAiMethod:
    @pytest.mark.parametrize("model", ["spectral", pytest.param("basic_pitch",
                                                                marks=needs_onnx)])
    @pytest.mark.parametrize("kind", ["remix", "negative"])
    def test_known_offsets_within_one_frame(self, cases: dict[str, object], model: str,
                                            kind: str) -> None:
        err, diag, conf = _ai(cases[kind], model)
        assert abs(err) < 0.001, diag  # refined by GCC-PHAT: well within a frame
        coarse_err = diag["coarse_offset_seconds"] - cases[kind].true_offset_seconds  # type: ignore[attr-defined,operator]
        assert abs(coarse_err) < ONE_FRAME, diag  # the embedding peak alone: within a frame
        assert diag["refined_by"] == "gcc_phat" and conf > 0.2

    def test_progress_counts_embedding_windows(self, cases: dict[str, object]) -> None:
        events: list[ProgressEvent] = []
        case = cases["clean"]
        r = analyze_files(case.master_path, case.dub_path, progress=events.append,  # type: ignore[attr-defined]
                          options=AnalysisOptions(ai_model="spectral", ai_batch_size=1,
                                                  max_offset_seconds=10))
        ai = [e for e in events if e.stage == "ai" and e.window is not None]
        assert [e.window for e in ai] == list(range(1, 7)) and ai[-1].windows == 6
        assert ai[2].message == "embedding window 3/6"
        assert abs(r.offset_seconds - 0.5) < 0.001  # type: ignore[operator]
        assert "ai" in r.timings and r.options["ai_model"] == "spectral"

    def test_without_ai_the_methods_are_unchanged(self, cases: dict[str, object]) -> None:
        case = cases["remix"]
        plain = analyze_files(case.master_path, case.dub_path)  # type: ignore[attr-defined]
        assert {m.method for m in plain.methods} == {"correlation", "mfcc", "onset", "spectral"}
        assert "speech_activity" not in plain.timings and "ai" not in plain.timings


@needs_onnx
class TestSpeechWeighting:
    def test_weighting_helps_a_different_language_dub(self, cases: dict[str, object]) -> None:
        """The dub's dialogue is German, the master's English, on the same M&E: weighting the
        frames by 1 - 0.85·p(speech) lets the shared bed decide."""
        case = cases["remix"]
        truth = case.true_offset_seconds  # type: ignore[attr-defined]
        plain = analyze_files(case.master_path, case.dub_path,  # type: ignore[attr-defined]
                              options=AnalysisOptions(max_offset_seconds=20))
        weighted = analyze_files(case.master_path, case.dub_path,  # type: ignore[attr-defined]
                                 options=AnalysisOptions(max_offset_seconds=20,
                                                         speech_weighting=True))
        p = {m.method: m for m in plain.methods}
        w = {m.method: m for m in weighted.methods}
        # onset strength: the dialogue pulls the unweighted peak seconds away; weighted it is
        # right within a frame
        assert abs(p["onset"].offset_seconds - truth) > 1.0  # type: ignore[operator]
        assert abs(w["onset"].offset_seconds - truth) < ONE_FRAME  # type: ignore[operator]
        # band-wise spectral flux: the peak stands twice as high above the correlation noise
        zp, zw = p["spectral"].diagnostics["zscore"], w["spectral"].diagnostics["zscore"]
        assert zw > 1.8 * zp, (zp, zw)
        assert abs(w["spectral"].offset_seconds - truth) < 0.005  # type: ignore[operator]
        assert weighted.timings["speech_activity"] > 0
        assert abs(weighted.offset_seconds - truth) < 0.001  # type: ignore[operator]

    def test_weighting_raises_the_ai_peak(self, cases: dict[str, object]) -> None:
        _, plain, _ = _ai(cases["remix"], "spectral")
        err, weighted, _ = _ai(cases["remix"], "spectral", speech_weighting=True)
        assert weighted["speech_weighted"] is True and abs(err) < 0.001
        assert weighted["zscore"] > plain["zscore"]  # type: ignore[operator]
        share = weighted["speech_share"]
        assert 0.3 < share["master"] < 0.9 and 0.3 < share["dub"] < 0.9  # type: ignore[index]


@needs_torch
class TestTinyWav2Vec2:
    def test_loads_offline_from_the_cache(self, model_cache: Path) -> None:
        reg = ModelRegistry(cache_dir=model_cache, batch_size=2)
        s = reg.status("wav2vec2")
        assert s.available and s.load_path == str(model_cache / "wav2vec2")
        assert s.embedding_size == 32 and s.frame_rate_hz == 50.0 and not s.loaded
        be = reg.get("wav2vec2")
        assert reg.get("wav2vec2") is be and reg.status("wav2vec2").loaded
        x = synth_bed(21.0, 16000, seed=4).mean(axis=1)
        run = embed_track(x, model="wav2vec2", registry=reg)
        assert run.frames.shape == (int(np.ceil(x.size / 320)), 32) and run.frame_rate == 50.0

    def test_hugging_face_cache_layout(self, model_cache: Path, tmp_path: Path) -> None:
        snap = tmp_path / "hub" / "models--facebook--wav2vec2-base" / "snapshots" / "abc123"
        shutil.copytree(model_cache / "wav2vec2", snap)
        s = ModelRegistry(cache_dir=tmp_path).status("wav2vec2")
        assert s.available and s.load_path == str(snap)

    def test_ai_method_end_to_end(self, cases: dict[str, object], model_cache: Path) -> None:
        err, diag, _ = _ai(cases["clean"], "wav2vec2", model_cache)
        assert abs(err) < 0.001 and diag["embedding_size"] == 32 and diag["device"] == "cpu"
        assert abs(diag["coarse_offset_seconds"] - 0.5) < ONE_FRAME  # type: ignore[operator]
        # random weights on another-language dub: the coarse peak may lean, refinement holds
        err, diag, _ = _ai(cases["remix"], "wav2vec2", model_cache)
        assert abs(err) < 0.001, diag


@needs_tf
class TestTinyYamnet:
    def test_saved_model_through_tensorflow_hub(self, model_cache: Path) -> None:
        reg = ModelRegistry(cache_dir=model_cache)
        s = reg.status("yamnet")
        assert s.available and s.load_path == str(model_cache / "yamnet")
        assert s.embedding_size == 1024 and s.frame_rate_hz == pytest.approx(8.3333, abs=1e-3)
        be = reg.get("yamnet")
        assert type(be.model).__module__.startswith(("tensorflow", "tensorflow_hub"))
        x = synth_bed(12.0, 16000, seed=5).mean(axis=1)
        run = embed_track(x, model="yamnet", registry=reg)
        assert run.frames.shape == (int(np.ceil(x.size / 1920)), 1024)

    def test_ai_method_with_yamnet(self, cases: dict[str, object], model_cache: Path) -> None:
        err, diag, conf = _ai(cases["clean"], "yamnet", model_cache)
        assert abs(err) < 0.001 and conf > 0.5, diag
        assert abs(diag["coarse_offset_seconds"] - 0.5) < 0.12  # type: ignore[operator]


def _cuda() -> bool:
    if not HAS_TORCH:
        return False
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="no CUDA GPU")
class TestGpu:
    def test_wav2vec2_on_cuda(self, model_cache: Path) -> None:
        reg = ModelRegistry(cache_dir=model_cache, use_gpu=True, batch_size=8)
        assert reg.status("wav2vec2").device == "cuda"
        x = synth_bed(60.0, 16000, seed=6).mean(axis=1)
        embed_track(x[:16000 * 12], model="wav2vec2", registry=reg)  # warm-up
        t = time.perf_counter()
        run = embed_track(x, model="wav2vec2", registry=reg)
        secs = time.perf_counter() - t
        assert run.device.startswith("cuda") and run.frames.shape[0] == 3000
        print(f"wav2vec2 (tiny) on {run.device}: {60.0 / secs:.0f}x real time")

    def test_ai_method_on_cuda_end_to_end(self, model_cache: Path) -> None:
        """The whole pipeline with the AI method on the GPU (arrays, so no ffmpeg/espeak-ng
        needed on a GPU server): a re-balanced, EQ'd, compressed, noisier dub 1.234 s late."""
        from app.engine import analyze_signals
        from testkit.transforms import compress, delay, equalize

        sr, true = 16000, 1.234
        master = synth_bed(40.0, sr, seed=8).mean(axis=1)
        rng = np.random.default_rng(8)
        eq = [("peak", 2500.0, 6.0, 1.0), ("lowshelf", 150.0, -6.0, 0.7)]
        dub = compress(equalize(delay(master, true, sr) * 0.5, eq, sr), sr)
        dub = (dub + 0.01 * rng.standard_normal(dub.size)).astype(np.float32)
        runs = {}
        for gpu in (True, False):
            r = analyze_signals(master, dub, sample_rate=sr, options=AnalysisOptions(
                ai_model="wav2vec2", ai_cache_dir=str(model_cache), ai_use_gpu=gpu,
                max_offset_seconds=20))
            assert r.offset_seconds is not None and abs(r.offset_seconds - true) < 0.001
            runs[gpu] = next(m for m in r.methods if m.method == "ai")
        gpu_ai, cpu_ai = runs[True], runs[False]
        assert str(gpu_ai.diagnostics["device"]).startswith("cuda"), gpu_ai.diagnostics
        assert cpu_ai.diagnostics["device"] == "cpu"
        # the tiny model has random weights, so its answer is not the truth: the GPU path must
        # give the CPU path's answer (same embedding peak, same refined offset)
        frame = 1.0 / float(gpu_ai.diagnostics["frame_rate"])  # type: ignore[arg-type]
        assert abs(float(gpu_ai.diagnostics["coarse_offset_seconds"])  # type: ignore[arg-type]
                   - float(cpu_ai.diagnostics["coarse_offset_seconds"])) <= frame  # type: ignore[arg-type]
        assert gpu_ai.offset_seconds == pytest.approx(cpu_ai.offset_seconds, abs=0.001)
        assert gpu_ai.confidence == pytest.approx(cpu_ai.confidence, abs=0.05)

    def test_basic_pitch_speed_on_gpu_registry(self, tmp_path: Path) -> None:
        reg = ModelRegistry(cache_dir=tmp_path, use_gpu=True)
        x = synth_bed(30.0, 16000, seed=6).mean(axis=1)
        t = time.perf_counter()
        run = embed_track(x, model="basic_pitch", registry=reg)
        print(f"basic_pitch on {run.device}: {30.0 / (time.perf_counter() - t):.0f}x real time")
