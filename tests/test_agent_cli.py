"""The ask/chat CLI: argument errors, the live step lines and the printed answer."""

from __future__ import annotations

from vidsleuth.agent.cli.ask import describe_step, format_answer
from vidsleuth.agent.cli.main import main
from vidsleuth.agent.session import Answer, Evidence
from vidsleuth.graphs.prompts import fmt_ts


def test_fmt_ts():
    assert fmt_ts(0) == "00:00:00"
    assert fmt_ts(754.4) == "00:12:34"
    assert fmt_ts(3 * 3600 + 61) == "03:01:01"


def test_format_answer_prints_timestamps_and_cost():
    ans = Answer(
        question="q",
        options=["red", "blue"],
        answer="B",
        answer_text="blue",
        confidence=0.87,
        evidence=[Evidence(t_start=754.0, t_end=758.0, why="blue car")],
        stop_reason="confident",
        cost={
            "model_calls": 3,
            "prompt_tokens": 900,
            "completion_tokens": 60,
            "frames_decoded": 24,
            "seconds": 12.5,
        },
    )
    text = format_answer(ans)
    assert "Answer: B. blue" in text and "confidence 0.87" in text and "stopped: confident" in text
    assert "[00:12:34]-[00:12:38]  blue car" in text
    assert "3 model calls" in text and "24 frames decoded" in text


def test_describe_step_lines():
    upd = {
        "trace": [
            {
                "node": "retrieve",
                "tool": "search_memory",
                "args": {"query": "red car", "k": 8},
                "found": 5,
            },
            {
                "node": "perceive",
                "tool": "read_text",
                "args": {"t_start": 60, "t_end": 64},
                "error": "tool read_text failed: boom",
            },
            {
                "node": "refine",
                "tool": "inspect_interval",
                "args": {"t_start": 56, "t_end": 68},
                "found": 3,
                "frames_decoded": 24,
            },
        ]
    }
    lines = describe_step("retrieve", upd)
    assert lines[0] == "  [retrieve] search_memory 'red car': 5 found"
    assert "read_text 00:01:00-00:01:04: error: tool read_text failed: boom" in lines[1]
    assert lines[2].endswith("3 found, 24 frames decoded")
    red = describe_step(
        "reduce",
        {
            "trace": [
                {
                    "node": "reduce",
                    "answer": "B",
                    "confidence": 0.8,
                    "agreement": 1,
                    "stated": 0.9,
                    "margin": 0.3,
                    "stop": "confident",
                }
            ]
        },
    )
    assert "answer B confidence 0.80" in red[0] and "stop: confident" in red[0]


def test_options_must_follow_the_flag(tmp_path, capsys):
    rc = main(["ask", "x.mp4", "What?", "red", "blue", "--store", str(tmp_path)])
    assert rc == 2
    assert "put --options before the options" in capsys.readouterr().err


def test_missing_video_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VIDSLEUTH_PERCEIVERS", "ocr")
    rc = main(["ask", str(tmp_path / "nope.mp4"), "What?", "--store", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert rc == 2 and "nope.mp4: no such file" in err and "Traceback" not in err
