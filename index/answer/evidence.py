"""How likely a sentence is to answer a question: cues read from both, weighed by a small learned model.

The model is a logistic regression over features that mean the same in every search mode and
every collection (cosines, shares of the question's terms, light answer-type and attribution
cues), so its output is a probability that the sentence is on target, and one threshold on the
best quote's probability (`ARTICLEBOT_MIN_SCORE`) decides "not found" everywhere. The weights are
fitted by `tools/fit_quote_model.py` on one half of the articles of each development set and
reported on the other half (see docs/evaluation.md).
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

import numpy as np

AnswerType = Literal["number", "date", "name", ""]

# The wh-phrase at the start of the question's ask (its last clause) says what kind of words the
# answer holds. These are English question forms, not the wording of any data set.
_ASKS_NUMBER = re.compile(
    r"\bhow (?:many|much|old|long|far|big|large|high|tall|deep|often|fast|heavy)\b|\bwhat (?:percentage|"
    r"proportion|share|fraction|number|amount|price|sum|rate|age)\b|\bby how\b",
    re.IGNORECASE,
)
_ASKS_DATE = re.compile(
    r"\bwhen\b|\bwhat (?:year|date|day|month|time|century|decade|period)\b|\bin which (?:year|month|century)\b"
    r"|\bsince when\b|\bhow long ago\b",
    re.IGNORECASE,
)
_ASKS_NAME = re.compile(
    r"\bwho(?:m|se)?\b|\bwhere\b|\bwhich (?:country|countries|city|cities|company|companies|organi[sz]ation|"
    r"team|party|state|nation|region|town|person|people|group)\b|\bwhat (?:country|city|company|organi[sz]ation|"
    r"team|party|state|nation|region|town|name)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundreds?|"
    r"thousands?|millions?|billions?|trillions?|dozens?|half|third|quarter|percent|per cent)\b",
    re.IGNORECASE,
)
_DATE = re.compile(
    r"\b(?:1[5-9]\d\d|20\d\d)s?\b|\b(?:January|February|March|April|May|June|July|August|September|October|"
    r"November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\b|\b(?:Monday|Tuesday|Wednesday|"
    r"Thursday|Friday|Saturday|Sunday)\b|\b(?:yesterday|today|tomorrow|tonight|ago|century|decade|weekend|"
    r"morning|evening|night|week|month|year|spring|summer|autumn|winter)s?\b",
    re.IGNORECASE,
)
# A capitalised word that does not start the sentence: a name of a person, place or organisation.
_NAME = re.compile(r"(?<=[\w,;:’'\"”)] )[A-Z][\w’'.-]*[a-z]")

# "What did Merkel say?", "How did China react?": the sentence with the attribution is the answer.
_ASKS_ATTRIBUTION = re.compile(
    r"\b(?:say|says|said|react|reacted|reaction|respond|responded|response|think|thinks|thought|believe|believes|"
    r"feel|feels|felt|claim|claims|argue|argues|warn|warns|warned|describe|describes|described|call|called|"
    r"tell|told|view|views|opinion|criticise|criticize|criticised|criticized|accuse|accused|announce|announced|"
    r"promise|promised|admit|admitted|deny|denied|want|wants|hope|hopes|plan|plans|suggest|suggests)\b",
    re.IGNORECASE,
)
_ATTRIBUTION = re.compile(
    r"\b(?:said|says|say|told|tells|according to|added|stated|warned|argued|claimed|claims|believes|thinks|"
    r"called|described|insisted|urged|explained|noted|announced|responded|replied|wrote|writes|asked|"
    r"admitted|denied|acknowledged|confirmed|suggested|criticised|criticized|accused|vowed|pledged|promised|"
    r"condemned|welcomed|praised)\b|[“”\"]",
    re.IGNORECASE,
)
# A sentence opening with a pronoun or connective leans on the sentence before it.
_LEANS_BACK = re.compile(
    r"^[“\"‘']?(?:he|she|they|it|its|this|that|these|those|his|her|their|there|but|and|so|yet|however|also|"
    r"instead|meanwhile|still|then|thus|such|both|neither|nor|or|which|the latter|the former)\b",
    re.IGNORECASE,
)
_ASK = re.compile(r"[^.?!]*\?\s*$")


def ask_of(question: str) -> str:
    """The question's ask: its last clause ending in "?" ("A card sold at auction ... How much did it
    sell for?" → "How much did it sell for?"), or the whole question."""
    match = _ASK.search(question.strip())
    return match.group().strip() if match and match.group().strip() else question


def answer_type(question: str) -> AnswerType:
    """What kind of words the answer must hold, by the wh-phrase of the question's ask."""
    ask = ask_of(question)
    if _ASKS_NUMBER.search(ask):
        return "number"
    if _ASKS_DATE.search(ask):
        return "date"
    if _ASKS_NAME.search(ask):
        return "name"
    return ""


def holds(sentence: str, kind: AnswerType) -> bool:
    """Whether the sentence holds words of that kind (a number, a date, a name)."""
    return SentenceCues.of(sentence).holds(kind)


class QuestionCues(NamedTuple):
    kind: AnswerType
    attribution: bool

    @classmethod
    def of(cls, question: str) -> QuestionCues:
        return cls(answer_type(question), bool(_ASKS_ATTRIBUTION.search(ask_of(question))))


class SentenceCues(NamedTuple):
    """What a sentence holds, read once when it is stored (the regexes cost more than all the arithmetic
    of answering a question)."""

    number: bool
    date: bool
    name: bool
    attribution: bool
    leans_back: bool
    first_in_paragraph: bool = False  # news ledes carry the facts

    @classmethod
    def of(cls, sentence: str, first_in_paragraph: bool = False) -> SentenceCues:
        return cls(
            bool(_NUMBER.search(sentence)),
            bool(_DATE.search(sentence)),
            bool(_NAME.search(sentence)),
            bool(_ATTRIBUTION.search(sentence)),
            bool(_LEANS_BACK.match(sentence)),
            first_in_paragraph,
        )

    def holds(self, kind: AnswerType) -> bool:
        return {"number": self.number, "date": self.date, "name": self.name}.get(kind, False)

    def bits(self) -> int:
        return sum(CUE_BITS[name] for name, held in zip(self._fields, self) if held)


#: The bit of each sentence cue in `SentenceCues.bits` (stored with every sentence).
CUE_BITS = {name: 1 << n for n, name in enumerate(SentenceCues._fields)}


#: The model's inputs, in order; each is 0..1 or a small real number.
FEATURES = (
    "similarity",  # cosine of the sentence (pooled in its chunk's context) to the question
    "overlap",  # idf-weighted share of the question's terms the sentence holds
    "similarity_gap",  # similarity minus the best similarity among the candidates (<= 0)
    "overlap_gap",  # overlap minus the best overlap among the candidates (<= 0)
    "neighbour_similarity",  # the better similarity of the sentences before and after it
    "neighbour_overlap",  # the better overlap of the sentences before and after it
    "passage_dense",  # cosine of its passage to the question
    "passage_lexical",  # BM25 of its passage / the question's total idf
    "type_held",  # the question asks for a number, date or name and the sentence has one
    "type_missing",  # ... and the sentence has none
    "attribution",  # the question asks what someone said or how they reacted, and the sentence attributes
    "leans_back",  # the sentence opens with a pronoun or connective
    "first_in_paragraph",  # news ledes carry the facts
    "log_chars",  # log of its length in characters, over 5
    "reader",  # the reader's logit: the question and the sentence read together (index/encoders/reader.py)
)


class QuoteModel(NamedTuple):
    """Logistic-regression weights over FEATURES: the probability that a sentence is on target."""

    weights: tuple[float, ...]
    bias: float

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """The probability of each row of an (n, len(FEATURES)) array."""
        z = self.bias + features @ np.asarray(self.weights)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


#: Fitted by tools/fit_quote_model.py (half 1 of the articles of SQuAD dev and onestopqa-news), with the reader.
WITH_READER = QuoteModel(
    (1.437, -0.299, 1.437, -0.299, 0.206, -0.123, 0.725, 4.852, 0.371, -0.371, 0.202, 0.077, -0.132, 0.220, 0.317),
    -3.608,
)
#: The same without the reader (ARTICLEBOT_READER=0): the reader's weight is 0.
WITHOUT_READER = QuoteModel(
    (3.944, 1.226, 3.944, 1.226, -0.368, -0.053, 0.062, 6.036, 0.345, -0.345, 0.399, 0.151, -0.290, 0.589, 0.0), -5.353
)


def quote_model(reader: bool) -> QuoteModel:
    return WITH_READER if reader else WITHOUT_READER


def length_feature(chars: np.ndarray) -> np.ndarray:
    """log of the length in characters, over 5."""
    return np.log(np.maximum(chars, 1)) / 5
