"""Split cleaned article text into paragraphs, sentences and model-sized chunks with exact spans."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ..records import Chunk, Span

#: Counts word pieces for each text (without the model's special tokens).
TokenCounter = Callable[[Sequence[str]], list[int]]

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# Sentence end: terminal punctuation, any closing quotes/brackets, then space and a likely start. Ours
# rather than a maintained splitter: on SQuAD dev's 18,015 answer spans, ours puts a boundary inside 30,
# pysbd, blingfire and syntok 26 each, while ours splits a MB in 0.04 s against 0.16 (blingfire), 0.71
# (syntok) and 4.0 (pysbd) (`python -m tools.compare_splitters`, 2026-12-05). On news, blingfire and
# syntok split as ours does (5.73 sentences a paragraph); pysbd makes fewer, longer ones (5.02), which
# only a quote evaluation with it could judge.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]*[A-Z0-9À-Ý])")
_WORD_BEFORE = re.compile(r"([\w.]*\w)[.!?…]*[\"'”’)\]]*$")
_NON_SPACE = re.compile(r"\S+")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt ft gen col lt sgt capt cmdr adm gov sen rep rev hon pres "
    "supt insp jan feb mar apr jun jul aug sep sept oct nov dec no nos vol pp fig inc ltd co corp "
    "vs etc al approx dept est univ ave blvd rd".split()
)


def _trimmed(text: str, start: int, end: int) -> Span | None:
    piece = text[start:end]
    start += len(piece) - len(piece.lstrip())
    end -= len(piece) - len(piece.rstrip())
    return Span(start, end) if start < end else None


def paragraph_spans(text: str) -> list[Span]:
    """Spans of the paragraphs (separated by blank lines), trimmed of surrounding whitespace."""
    bounds = [0]
    for match in _PARAGRAPH_BREAK.finditer(text):
        bounds += [match.start(), match.end()]
    bounds.append(len(text))
    spans = (_trimmed(text, bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2))
    return [span for span in spans if span]


#: How far back from a period the word it ends is looked for: the whole sentence so far would make
#: splitting quadratic (minutes for "Mr. A " repeated), and no abbreviation is this long.
_ABBREVIATION_WINDOW = 32
#: Words counted together when a sentence must be split between words: counting every word alone
#: costs a tokenizer call per word (12 s for a 170,000-word sentence).
_WORDS_PER_COUNT = 16


def _is_abbreviation(before: str) -> bool:
    match = _WORD_BEFORE.search(before)
    if not match:
        return False
    word = match.group(1)
    # Initials ("J." / "U.S.") and known abbreviations don't end sentences.
    return (len(word) == 1 and word.isupper()) or "." in word or word.lower() in _ABBREVIATIONS


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Spans of the sentences in `text[start:end]`; a sentence never crosses a line break."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        line_start = start + line.start()
        cursor = line_start
        segment = line.group()
        for match in _SENTENCE_END.finditer(segment):
            stop = line_start + match.end()
            if match.group()[0] == "." and _is_abbreviation(text[max(cursor, stop - _ABBREVIATION_WINDOW) : stop]):
                continue
            spans.append(Span(cursor, stop))
            cursor = stop
        spans.append(Span(cursor, line_start + len(segment)))
    return [span for span in (_trimmed(text, s, e) for s, e in spans) if span]


def _word_groups(text: str, span: Span, count_tokens: TokenCounter, budget: int) -> list[tuple[Span, int]]:
    """The words of an over-long sentence in groups of up to _WORDS_PER_COUNT, with their word pieces;
    a group over `budget` is taken word by word. The counts add up, since the model's tokenizer
    splits at spaces before it splits words into pieces."""
    words = [Span(m.start(), m.end()) for m in _NON_SPACE.finditer(text, span.start, span.end)]
    groups = [
        Span(words[i].start, words[min(i + _WORDS_PER_COUNT, len(words)) - 1].end)
        for i in range(0, len(words), _WORDS_PER_COUNT)
    ]
    counted: list[tuple[Span, int]] = []
    for at, (group, count) in enumerate(zip(groups, count_tokens([text[s:e] for s, e in groups]))):
        if count <= budget:
            counted.append((group, count))
        else:
            alone = words[at * _WORDS_PER_COUNT : (at + 1) * _WORDS_PER_COUNT]
            counted.extend(zip(alone, count_tokens([text[s:e] for s, e in alone])))
    return counted


def _word_windows(text: str, span: Span, count_tokens: TokenCounter, budget: int) -> list[tuple[Span, int]]:
    """Split an over-long sentence at spaces into pieces of at most `budget` tokens."""
    pieces: list[tuple[Span, int]] = []
    first: Span | None = None
    last, used = span, 0
    for group, count in _word_groups(text, span, count_tokens, budget):
        if first is not None and used + count > budget:
            pieces.append((Span(first.start, last.end), used))
            first, used = None, 0
        first = first or group
        last = group
        used += count
    if first is not None:
        pieces.append((Span(first.start, last.end), used))
    return pieces


def chunk_text(text: str, count_tokens: TokenCounter, budget: int, overlap: int = 1) -> list[Chunk]:
    """Pack each paragraph's sentences into chunks of at most `budget` word pieces.

    Args:
        text: the cleaned article text.
        count_tokens: word-piece counter of the embedding model.
        budget: the most word pieces a chunk may hold (a single longer word is kept whole).
        overlap: how many sentences a chunk repeats from the one before it in the same paragraph.
    Returns:
        Chunks in text order; every sentence lies inside at least one chunk.
    """
    chunks: list[Chunk] = []
    for number, para in enumerate(paragraph_spans(text), start=1):
        sentences = sentence_spans(text, para.start, para.end)
        counts = count_tokens([text[s:e] for s, e in sentences])
        pieces: list[tuple[Span, int]] = []
        for span, count in zip(sentences, counts):
            if count <= budget:
                pieces.append((span, count))
            else:
                pieces.extend(_word_windows(text, span, count_tokens, budget))
        first = 0
        while first < len(pieces):
            last, used = first, pieces[first][1]
            while last + 1 < len(pieces) and used + pieces[last + 1][1] <= budget:
                last += 1
                used += pieces[last][1]
            start, end = pieces[first][0].start, pieces[last][0].end
            chunks.append(Chunk(start, end, number, text[start:end]))
            if last + 1 >= len(pieces):
                break
            # Repeat the tail sentences only if the next chunk still gains a new sentence.
            back = min(overlap, last - first)
            kept = sum(c for _, c in pieces[last + 1 - back : last + 1]) if back else 0
            first = last + 1 - back if back and kept + pieces[last + 1][1] <= budget else last + 1
    return chunks
