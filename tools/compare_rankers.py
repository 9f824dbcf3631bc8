"""Would a non-linear model rank the quote model's candidates better than its conditional logit?

    .venv/bin/python -m tools.fit_quote_model ../shared/eval/squad-v1.1-dev ../shared/eval/onestopqa-news \\
        --limit 1000 --cache /tmp/features.pkl
    .venv/bin/python -m tools.compare_rankers /tmp/features.pkl

On the candidates `tools/fit_quote_model.py` collected (its `--cache`), it fits four rankers and prints
how often each one's top candidate is on target on half 2 of each set:
- linear: the conditional logit the quote model uses (`fit_ranking`);
- trees: gradient-boosted trees (scikit-learn), pointwise, every set weighing the same;
- trees, relative: the same with each feature also as its distance to the best of the question's
  candidates and its rank among them (a sentence is good when it beats the others);
- network: one hidden layer of 16 (torch), trained with the conditional logit's loss.
Two ways: fitted on half 1 (as the quote model is), and fitted on half 1 plus every other question of
half 2 and scored on the rest, both ways round (the reader was trained on half 1, so its logits there
are better than on new text, and a model fitted on half 1 alone leans on them too much).
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tools.fit_quote_model import fit_ranking

Questions = list[tuple[np.ndarray, np.ndarray]]  # per question: features of each candidate, on-target labels
Ranker = Callable[[np.ndarray], np.ndarray]  # candidates' features → scores


def relative(x: np.ndarray) -> np.ndarray:
    """Each feature, its distance to the best candidate's, and its rank among the question's candidates (capped)."""
    rank = (-x).argsort(axis=0).argsort(axis=0)
    return np.hstack([x, x - x.max(axis=0, keepdims=True), np.minimum(rank, 5)])


def answerable(sets: list[Questions]) -> list[Questions]:
    return [[q for q in questions if q[1].any()] for questions in sets]


def fit_trees(sets: list[Questions], view: Callable[[np.ndarray], np.ndarray]) -> Ranker:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rows, labels, weights = [], [], []
    for questions in answerable(sets):
        for x, y in questions:  # each question weighs the same, and each set
            rows.append(view(x))
            labels.append(y)
            weights.append(np.full(len(y), 1.0 / (len(questions) * len(y))))
    model = HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40, l2_regularization=1.0, random_state=0
    )
    model.fit(np.vstack(rows), np.concatenate(labels), sample_weight=np.concatenate(weights) * 1e4)
    return lambda x: model.predict_proba(view(x))[:, 1]


def fit_network(sets: list[Questions], hidden: int = 16, epochs: int = 60, seed: int = 0) -> Ranker:
    import torch

    torch.manual_seed(seed)
    groups = [
        (torch.tensor(x, dtype=torch.float32), torch.tensor(y), 1.0 / len(questions))
        for questions in answerable(sets)
        for x, y in questions
    ]
    stacked = torch.cat([x for x, _, _ in groups])
    mean, scale = stacked.mean(0), stacked.std(0) + 1e-6
    net = torch.nn.Sequential(torch.nn.Linear(stacked.shape[1], hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-3)
    for _ in range(epochs):
        order = torch.randperm(len(groups)).tolist()
        for start in range(0, len(order), 64):
            loss = torch.zeros(())
            for i in order[start : start + 64]:
                x, y, weight = groups[i]
                scores = net((x - mean) / scale).squeeze(1)
                loss = loss - weight * (torch.logsumexp(scores[y], 0) - torch.logsumexp(scores, 0))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()

    def rank(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net((torch.tensor(x, dtype=torch.float32) - mean) / scale).squeeze(1).numpy()

    return rank


def rankers(train: list[Questions], l2: float) -> dict[str, Ranker]:
    weights = fit_ranking(train, l2)
    return {
        "linear (in use)": lambda x: x @ weights,
        "trees": fit_trees(train, lambda x: x),
        "trees, relative": fit_trees(train, relative),
        "network": fit_network(train),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cache", type=Path, help="the features tools.fit_quote_model --cache kept")
    parser.add_argument("--l2", type=float, default=0.0001)
    args = parser.parse_args(argv)
    data: dict[str, dict[int, Questions]] = pickle.loads(args.cache.read_bytes())[0]
    names = list(data)
    ways: dict[str, list[tuple[list[Questions], dict[str, Questions]]]] = {
        "fitted on half 1": [([data[n][1] for n in names], {n: data[n][2] for n in names})],
        "fitted on half 1 and half of half 2": [
            (
                [data[n][1] + data[n][2][part::2] for n in names],
                {n: data[n][2][1 - part :: 2] for n in names},
            )
            for part in (0, 1)
        ],
    }
    for way, folds in ways.items():
        hits: dict[tuple[str, str], list[bool]] = {}
        for train, held_out in folds:
            for ranker, score in rankers(train, args.l2).items():
                for name, questions in held_out.items():
                    hits.setdefault((ranker, name), []).extend(bool(y[int(np.argmax(score(x)))]) for x, y in questions)
        print(f"{way}: top candidate on target, half 2")
        for (ranker, name), right in hits.items():
            print(f"  {ranker:16} {name:16} {np.mean(right):.4f} ({len(right)} questions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
