"""The reader's training script (tools/train_reader.py) on a tiny set: two steps, a resume, an export that
the index's Reader loads. The real training never runs in CI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.encoders.reader import Reader
from tools.train_reader import Group, main


def _groups(path: Path, groups: list[Group]) -> None:
    path.write_text(
        "".join(
            json.dumps({"q": g.q, "pos": g.pos, "neg": g.neg, "src": g.src, "base": g.base}) + "\n" for g in groups
        ),
        encoding="utf-8",
    )


def test_two_steps_train_resume_and_export_a_reader_the_index_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    bridge = Group(
        "When did the bridge close?",
        ("The bridge closed on Tuesday for repairs.",),
        ("Engineers found corroded steel.", "The mayor thanked the crews."),
        "onestopqa-news",
        (0.4, 0.5, 0.1),
    )
    strike = Group(
        "Why did the dockers strike?",
        ("The dockers struck over pay.",),
        ("Ships waited outside the harbour.",),
        "selqa",
    )
    _groups(data / "train.jsonl", [bridge, strike])
    _groups(data / "heldout.jsonl", [bridge])
    run = tmp_path / "run"
    common = [
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        "--batch",
        "1",
        "--news-weight",
        "1",
        "--log-every",
        "1",
        "--save-every",
        "1",
        "--eval-every",
        "1",
        "--seed",
        "3",
    ]
    assert main([*common, "--steps", "1"]) == 0
    assert main([*common, "--steps", "2"]) == 0  # resumes after the first step
    out = capsys.readouterr().out
    assert "data: 2 questions (onestopqa-news 1, selqa 1)" in out
    assert "resumed at step 1 of 2" in out and "step 2/2" in out
    assert "held out at step 2, top candidate on target (reader / quote model): onestopqa-news" in out

    assert main(["export", "--run", str(run), "--to", str(tmp_path / "reader")]) == 0
    logits = Reader(tmp_path / "reader").read(bridge.q, [*bridge.pos, *bridge.neg])
    assert logits.shape == (3,) and all(abs(x) < 100 for x in logits)
