"""Follow-up questions read with the turn before them: a deterministic rewrite, no language model.

People ask again in short: "what about France?", "and the US?", "when?", "who said that?", "what did
he say?". Searched as typed, such a question finds nothing or the wrong thing. `rewrite` turns it
into a question that stands alone, from the previous question (as it was searched) and the names in
the answer's first quote:

- "what/how about X?", "and X?": the previous question with its first name replaced by X;
- a bare question word ("when?", "where?", "why?", "who?", "how many?"): the previous question asked
  with that word instead of its own wh-phrase ("when?" after "What percentage of votes did Putin win?":
  "When did Putin win?");
- "who said that/it/this?": who said the previous answer's first quote (its first words);
- a pronoun (he, she, they, it, his, her, their, its…) in an otherwise new question: replaced by the
  name it most likely stands for (a person's for he and she, else the previous question's first name);
- anything else is searched as typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"\b[A-Z][\w’'.-]*(?:\s+(?:of|de|von|van|al|bin)?\s*[A-Z][\w’'.-]*)*")
#: Capitalised words that start sentences or questions rather than name something.
_NOT_NAMES = frozenset(
    """
a an and are as at but by can could did do does for from had has have he her his how i if in is it its
may me might my no not of on or our she should so that the their them then there these they this those
to was we were what when where which who whom whose why will with would you your also after before
according during while yet mr mrs ms dr meanwhile however earlier later today yesterday tomorrow last next
monday tuesday wednesday thursday friday saturday sunday
""".split()
)
_ABOUT = re.compile(
    r"^\s*(?:and\s+)?(?:what|how)\s+about\s+(?P<x>.+?)\s*\??\s*$|^\s*and\s+(?P<y>.+?)\s*\?\s*$", re.IGNORECASE
)
_WHO_SAID = re.compile(r"^\s*who\s+(?:said|says|wrote|claimed)\s+(?:that|it|this|so)\s*\??\s*$", re.IGNORECASE)
_WH_WORD = r"(?:when|where|why|who|whom|whose|what|which|how(?:\s+(?:many|much|long|often|old|far))?)\b"
_AUXILIARY = r"(?:is|are|was|were|do|does|did|has|have|had|will|would|can|could|should|shall|may|might|must)\b"
#: The question word and the words it governs up to the auxiliary verb that follows them, when a subject
#: follows that verb: "What percentage of votes" (did Putin win), "Which leader" (did Trump call), "How"
#: (did Trump react). Where no subject follows ("How many people were killed"), the wh-phrase is the
#: subject and stays. A clause break ends the search, so that "Who won, and what did..." keeps its verb.
_WH_PHRASE = re.compile(
    rf"^\s*{_WH_WORD}(?:\s+(?!{_AUXILIARY}|and\b|or\b|but\b)[^\s,;:]+){{0,5}}?\s+"
    rf"(?={_AUXILIARY}\s+(?:(?:the|an?|this|that|these|those|his|her|its|their|our|your|my|he|she|it|"
    r"they|we|you|i)\b|(?-i:[A-Z0-9])))",
    re.IGNORECASE,
)
_LEADING_WH = re.compile(rf"^\s*{_WH_WORD}", re.IGNORECASE)
_BARE_WH = re.compile(rf"^\s*(?P<wh>{_WH_WORD})\s*(?:then|exactly|so)?\s*\??\s*$", re.IGNORECASE)
_PERSONAL = re.compile(r"\b(he|she|him|her|his|hers)\b", re.IGNORECASE)
_IMPERSONAL = re.compile(r"\b(it|its|they|them|their|theirs)\b", re.IGNORECASE)
_QUOTE_WORDS = 12


@dataclass(frozen=True)
class Turn:
    """What a follow-up is read with: the question searched, and the answer's first quote."""

    question: str
    quote: str = ""


def proper_names(text: str) -> list[str]:
    """The capitalised names in a text, in order, without the words that merely start a sentence."""
    found = []
    for match in _NAME.finditer(text):
        words = match.group().split()
        while words and words[0].lower().strip(".") in _NOT_NAMES:
            words = words[1:]
        name = re.sub(r"[’']s$", "", " ".join(words)).rstrip(".’'")
        if name and name not in found:
            found.append(name)
    return found


def rewrite(question: str, previous: Turn | None) -> str:
    """`question` as it stands alone, read after `previous`; unchanged when it already does."""
    if previous is None or not previous.question:
        return question
    asked = previous.question.strip().rstrip("?")
    about = _ABOUT.match(question)
    if about:
        other = (about.group("x") or about.group("y")).strip()
        subject = next((n for n in proper_names(asked) if n.lower() not in other.lower()), None)
        if subject:
            return f"{asked.replace(subject, other, 1)}?"
        return f"{asked} {other}?"
    if _WHO_SAID.match(question) and previous.quote:
        said = " ".join(previous.quote.split()[:_QUOTE_WORDS]).rstrip(",;:.!?")
        return f"Who said {said}?"
    bare = _BARE_WH.match(question)
    if bare:
        wh = bare.group("wh")
        # The whole wh-phrase goes: "when?" after "What percentage of votes did Putin win?" asks when Putin
        # won; where no verb follows it ("Who won?"), the question word alone.
        rest = (_WH_PHRASE if _WH_PHRASE.match(asked) else _LEADING_WH).sub("", asked, count=1).strip()
        return f"{wh[0].upper()}{wh[1:]} {rest}?" if rest else question
    return _resolve_pronouns(question, previous)


def _resolve_pronouns(question: str, previous: Turn) -> str:
    if proper_names(question):
        return question  # it names what it asks about
    in_question, in_quote = proper_names(previous.question), proper_names(previous.quote)
    person = next((n for n in in_quote + in_question if " " in n), None) or next(iter(in_question + in_quote), None)
    thing = next(iter(in_question + in_quote), None)

    def swap(pattern: re.Pattern[str], name: str | None, text: str) -> str:
        if name is None:
            return text
        possessive = {"his", "her", "hers", "its", "their", "theirs"}
        return pattern.sub(lambda m: f"{name}'s" if m.group(1).lower() in possessive else name, text, count=1)

    if _PERSONAL.search(question):
        return swap(_PERSONAL, person, question)
    if _IMPERSONAL.search(question):
        return swap(_IMPERSONAL, thing, question)
    return question
