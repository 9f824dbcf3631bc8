"""Our sentence splitter (index/ingest/chunking.py) against maintained ones (pysbd, blingfire, syntok), on
both development sets: how often a boundary falls inside a gold answer span (a SQuAD answer is a phrase
inside one sentence, so each is a false split; a news evidence span may be several sentences, so there
the figure mostly counts sentences), sentences per paragraph, and seconds per MB of text.

    pip install -e '.[research]'
    python -m tools.compare_splitters ../shared/eval
"""

import json
import sys
import time
from pathlib import Path

import blingfire
import pysbd
from syntok import segmenter

from index.ingest.chunking import sentence_spans

seg = pysbd.Segmenter(language="en", clean=False, char_span=True)


def ours(text: str) -> list[tuple[int, int]]:
    return [(s.start, s.end) for s in sentence_spans(text)]


def py_sbd(text: str) -> list[tuple[int, int]]:
    return [(s.start, s.end) for s in seg.segment(text)]


def bling(text: str) -> list[tuple[int, int]]:
    _, offsets = blingfire.text_to_sentences_and_offsets(text)
    return [tuple(o) for o in offsets]


def syn(text: str) -> list[tuple[int, int]]:
    out = []
    for para in segmenter.analyze(text):
        for sent in para:
            toks = list(sent)
            out.append((toks[0].offset, toks[-1].offset + len(toks[-1].value)))
    return out


SPLITTERS = {"ours": ours, "pysbd": py_sbd, "blingfire": bling, "syntok": syn}


def main(shared: Path) -> None:
    for name in ("squad-v1.1-dev", "onestopqa-news"):
        folder = shared / name
        arts = {}
        for line in open(folder / "articles.jsonl"):
            a = json.loads(line)
            arts[a["id"]] = a
        spans = []
        for line in open(folder / "questions.jsonl"):
            q = json.loads(line)
            for s in q.get("answer_spans") or q.get("evidence_spans") or []:
                spans.append((q["article_id"], s["start"], s["end"]))
        paras = []
        for a in arts.values():
            for p in a.get("passages") or [{"start": 0, "end": len(a["text"])}]:
                paras.append((a["id"], p["start"], a["text"][p["start"] : p["end"]]))
        mb = sum(len(t) for _, _, t in paras) / 1e6
        for sname, fn in SPLITTERS.items():
            t0 = time.perf_counter()
            bounds = {}
            count = 0
            for aid, start, text in paras:
                ss = fn(text)
                count += len(ss)
                for _, e in ss[:-1]:
                    bounds.setdefault(aid, set()).add(start + e)
            dt = time.perf_counter() - t0
            # a boundary strictly inside a gold span (ignoring trailing whitespace) cuts it
            cut = sum(1 for aid, s, e in spans if any(s < b < e - 1 for b in bounds.get(aid, ())))
            print(
                f"{name:16} {sname:10} spans cut {cut / len(spans):.4f} ({cut}/{len(spans)})  "
                f"sentences/paragraph {count / len(paras):.2f}  {dt / mb:.2f} s/MB",
                flush=True,
            )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "eval")
