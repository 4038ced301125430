"""Pipeline behaviour: progress with an early estimate, cancellation, the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from app.engine import AnalysisCancelled, CancelToken, ProgressEvent, analyze_files
from testkit import Case, make_case


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    return make_case("remix", tmp_path_factory.mktemp("pipe"), seed=21, duration_seconds=60,
                     true_offset_seconds=0.6789)


class TestProgress:
    def test_events_monotonic_with_early_estimate(self, case: Case) -> None:
        events: list[ProgressEvent] = []
        r = analyze_files(case.master_path, case.dub_path, progress=events.append)
        fractions = [e.fraction for e in events]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
        first_estimate = next(i for i, e in enumerate(events) if e.estimate is not None)
        # the whole-programme search gives the first estimate (its lag grid: 10-40 ms),
        # the coarse search a finer one, both before refinement and consistency
        assert events[first_estimate].stage == "locate"
        assert events[first_estimate].estimate["offset_seconds"] == pytest.approx(0.6789,
                                                                                  abs=0.021)
        coarse = next(i for i, e in enumerate(events)
                      if e.stage == "coarse" and e.message.startswith("coarse estimate"))
        assert coarse < len(events) - 2
        assert events[coarse].estimate["offset_seconds"] == pytest.approx(0.6789, abs=0.001)
        assert any(e.window is not None and e.windows for e in events)
        assert r.offset_seconds == pytest.approx(0.6789, abs=1e-4)


class TestCancel:
    def test_cancel_stops_the_analysis(self, case: Case) -> None:
        token = CancelToken()
        timer = threading.Timer(0.05, token.cancel)
        timer.start()
        with pytest.raises(AnalysisCancelled):
            analyze_files(case.master_path, case.dub_path, cancel=token)

    def test_cancel_after_estimate(self, case: Case) -> None:
        token = CancelToken()

        def on(e: ProgressEvent) -> None:
            if e.estimate is not None:
                token.cancel()

        with pytest.raises(AnalysisCancelled):
            analyze_files(case.master_path, case.dub_path, progress=on, cancel=token)


class TestCli:
    def test_json(self, case: Case) -> None:
        out = subprocess.run(
            [sys.executable, "-m", "app", "analyze", str(case.master_path), str(case.dub_path),
             "--json", "--quiet", "--methods", "correlation", "onset"],
            capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
        data = json.loads(out.stdout)
        assert data["offset_seconds"] == pytest.approx(0.6789, abs=1e-4)
        assert [m["method"] for m in data["methods"]] == ["onset", "correlation"]
        assert data["timecodes"]["25"] == "00:00:00:17"

    def test_text_and_error(self, case: Case, tmp_path: Path) -> None:
        root = Path(__file__).parents[2]
        ok = subprocess.run([sys.executable, "-m", "app", "analyze", str(case.master_path),
                             str(case.dub_path), "--quiet"], capture_output=True, text=True,
                            cwd=root)
        assert ok.returncode == 0 and "dub late" in ok.stdout
        ms = float(re.search(r"= ([+-][0-9.]+) ms", ok.stdout).group(1))  # type: ignore[union-attr]
        assert ms == pytest.approx(678.9, abs=0.1)
        bad = subprocess.run([sys.executable, "-m", "app", "analyze", str(case.master_path),
                              str(tmp_path / "missing.wav")], capture_output=True, text=True,
                             cwd=root)
        assert bad.returncode == 2 and "file not found" in bad.stderr
