"""The bot's IndexService under load: questions run off the event loop, the reader's included."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.index_service import IndexService
from index import ArticleIndex, Scope


@pytest.mark.asyncio
async def test_a_hundred_questions_at_once_never_stall_the_event_loop(seed_index: ArticleIndex) -> None:
    service = IndexService(seed_index.settings, seed_index)
    await service.load()
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    questions = [
        "What did Kim Jong Un say?",
        "How did China react?",
        "What percentage of votes did Putin win?",
        "What is the capital of Peru?",
    ] * 25
    answers = await asyncio.gather(*(service.ask(q, Scope.of_server(None)) for q in questions))
    done.set()
    await ticker
    assert len(answers) == 100 and answers[1].answered
    assert max(gaps) < 0.5, f"the event loop stalled for {max(gaps):.2f} s"
