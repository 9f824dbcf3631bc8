"""Fit the quote model of index/answer/evidence.py on half 1 of the articles of each development set.

    .venv/bin/python -m tools.fit_quote_model ../shared/eval/squad-v1.1-dev ../shared/eval/onestopqa-news

With the reader (the default), the reader's logit is one of the features and the weights printed are
WITH_READER's; with ARTICLEBOT_READER=0 they are WITHOUT_READER's.

For each set it indexes every article, asks the questions about half 1 (at most --limit, sampled
with a fixed seed), labels each candidate sentence by the set's own rule (holds an answer, or
overlaps an evidence span by half), and fits in two steps, every set weighing the same:

1. a conditional logit (softmax over each question's candidates, L2-penalised): the weights that
   make an on-target sentence the top one, which is what a first quote needs;
2. Platt scaling of the top candidate's score against whether it is on target, over the
   questions of half 1 and as many questions about articles that are not indexed (label 0):
   the probability that the best quote answers, which is what "not found" needs.

It prints the weights to paste into index/answer/evidence.py and, on both halves of each set, how often
the top candidate is on target under the fitted model and under the weights in use: half 2 is
the held-out figure.
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from index import Settings
from index.answer.evidence import FEATURES, quote_model
from index.measure.evaluate import eval_set, halves, on_target


def collect(folder: Path, settings: Settings, limit: int, seed: int) -> dict[int, list[tuple[np.ndarray, np.ndarray]]]:
    """Per half, per question: (features of each candidate, on-target labels)."""
    out: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {1: [], 2: []}
    with eval_set(folder, settings) as data:
        parts = halves(data.ids)
        texts: dict[str, str] = {}
        for half, articles in zip((1, 2), parts):
            questions = [q for q in data.questions if q.article in articles]
            questions = random.Random(seed).sample(questions, min(limit, len(questions)))
            for q in questions:
                candidates = data.index.retrieve(q.question).candidates
                if not candidates:
                    continue
                labels = []
                for c in candidates:
                    article = c.passage.article_id
                    if article not in texts:
                        texts[article] = data.index.article(article).text
                    labels.append(
                        on_target(
                            q, data.ids, article, c.span.start, c.span.end, texts[article][c.span.start : c.span.end]
                        )
                    )
                out[half].append((np.array([c.features for c in candidates]), np.array(labels, dtype=bool)))
    return out


def top_accuracy(questions: list[tuple[np.ndarray, np.ndarray]], weights: np.ndarray) -> float:
    return float(np.mean([labels[int(np.argmax(x @ weights))] for x, labels in questions]))


def fit_ranking(sets: list[list[tuple[np.ndarray, np.ndarray]]], l2: float) -> np.ndarray:
    """Weights maximising the likelihood that the top candidate of each question is on target."""
    from scipy.optimize import minimize

    groups = [(x, y, 1.0 / len(questions)) for questions in sets for x, y in questions if y.any()]
    dim = groups[0][0].shape[1]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = l2 * float(w @ w), 2 * l2 * w
        for x, y, weight in groups:
            z = x @ w
            z = z - z.max()
            p = np.exp(z)
            p_all = p / p.sum()
            p_pos = p * y / (p * y).sum()
            total -= weight * float(np.log((p * y).sum() / p.sum()))
            grad -= weight * (x.T @ (p_pos - p_all))
        return total / len(sets), grad / len(sets)

    return minimize(loss, np.zeros(dim), jac=True, method="L-BFGS-B").x


def fit_calibration(
    sets: list[tuple[list[tuple[np.ndarray, np.ndarray]], list[np.ndarray]]], weights: np.ndarray
) -> tuple[float, float]:
    """(scale, bias) so that sigmoid(scale * top score + bias) is the probability that the top
    candidate is on target, over answerable questions and questions about unindexed articles."""
    from sklearn.linear_model import LogisticRegression

    scores, labels, sample = [], [], []
    for answerable, outside in sets:
        n = len(answerable) + len(outside)
        for x, y in answerable:
            top = int(np.argmax(x @ weights))
            scores.append(float(x[top] @ weights))
            labels.append(bool(y[top]))
            sample.append(1.0 / n)
        for x in outside:
            scores.append(float((x @ weights).max()))
            labels.append(False)
            sample.append(1.0 / n)
    model = LogisticRegression(C=100.0).fit(np.array(scores)[:, None], labels, sample_weight=np.array(sample) * 1000)
    return float(model.coef_[0][0]), float(model.intercept_[0])


def collect_outside(folder: Path, settings: Settings, limit: int, seed: int) -> list[np.ndarray]:
    """Candidates' features for questions about half 2's articles, with only half 1 indexed."""
    out = []
    held = halves(_article_ids(folder))[1]
    with eval_set(folder, settings, held_out=held) as data:
        questions = [q for q in data.questions if q.article in held]
        for q in random.Random(seed).sample(questions, min(limit, len(questions))):
            candidates = data.index.retrieve(q.question).candidates
            if candidates:
                out.append(np.array([c.features for c in candidates]))
    return out


def _article_ids(folder: Path) -> list[str]:
    with (folder / "articles.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line)["id"] for line in handle if line.strip()]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + float(np.exp(-z)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+", type=Path)
    parser.add_argument("--limit", type=int, default=1500, help="questions per half and set (default 1500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--l2", type=float, default=0.0001, help="L2 penalty of the ranking weights")
    parser.add_argument("--cache", type=Path, default=None, help="keep the collected features here, to refit quickly")
    args = parser.parse_args(argv)

    if args.cache and args.cache.exists():
        data, outside = pickle.loads(args.cache.read_bytes())
    else:
        settings = replace(Settings.from_env(), index_dir=Path("unused"))
        data = {folder.name: collect(folder, settings, args.limit, args.seed) for folder in args.datasets}
        outside = {folder.name: collect_outside(folder, settings, args.limit, args.seed) for folder in args.datasets}
        if args.cache:
            args.cache.write_bytes(pickle.dumps((data, outside)))
    ranking = fit_ranking([halves_of[1] for halves_of in data.values()], args.l2)
    scale, bias = fit_calibration([(data[name][1], outside[name]) for name in data], ranking)
    reader = Settings.from_env().reader
    print(
        f"{'WITH_READER' if reader else 'WITHOUT_READER'} = QuoteModel(("
        + ", ".join(f"{w * scale:.3f}" for w in ranking)
        + f"), {bias:.3f})"
    )
    for name, w in zip(FEATURES, ranking * scale):
        print(f"  {name:22} {w:+.3f}")
    print(
        "threshold on the best quote's probability (ARTICLEBOT_MIN_SCORE): answerable questions of half 2 "
        "left unanswered / questions about unindexed articles left unanswered"
    )
    for name in data:
        answerable = [_sigmoid(scale * float((x @ ranking).max()) + bias) for x, _ in data[name][2]]
        unanswerable = [_sigmoid(scale * float((x @ ranking).max()) + bias) for x in outside[name]]
        print(
            f"  {name:16}"
            + "  ".join(
                f"{t:.2f}: {np.mean(np.array(answerable) < t):.3f}/{np.mean(np.array(unanswerable) < t):.3f}"
                for t in (0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3)
            )
        )
    current = np.array(quote_model(reader).weights, dtype=float)
    for name, halves_of in data.items():
        for half in (1, 2):
            print(
                f"{name} half {half} ({len(halves_of[half])} questions): top candidate on target "
                f"{top_accuracy(halves_of[half], ranking):.4f} fitted, {top_accuracy(halves_of[half], current):.4f} in use"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
