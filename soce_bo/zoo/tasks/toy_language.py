"""`translate`: English -> "toy", a fixed word-level lexicon plus two reordering rules.

Rules: the verb moves to the end (SOV) and inside a noun phrase the noun comes first, then the
adjective, then the article (`the big dog` -> `hundo gron ka`). Output is scored with chrF, so a
partly right translation earns partial credit, as on FLORES.
"""

from __future__ import annotations

import random
from typing import Any

ARTICLES = {"the": "ka", "a": "mu"}
ADJECTIVES = {"big": "gron", "small": "pel", "red": "rusa", "old": "vey", "happy": "lofi", "blue": "zeni",
              "fast": "kiro", "quiet": "sumo", "young": "nova", "green": "verd", "tall": "alto", "sad": "tris"}
NOUNS = {"dog": "hundo", "cat": "mika", "bird": "pipa", "fish": "nemo", "man": "toro", "woman": "lina",
         "child": "bebo", "horse": "kaval", "farmer": "nuso", "king": "reko", "girl": "sila", "boy": "doro",
         "queen": "rina", "cook": "koko", "wolf": "lupo", "bear": "urso", "doctor": "meda", "baby": "nini"}
VERBS = {"sees": "vidi", "likes": "amu", "chases": "kuru", "helps": "ayu", "finds": "trova", "calls": "voka",
         "feeds": "nuti", "follows": "segi", "hears": "oda", "meets": "renko", "pays": "pagu", "wakes": "vekta"}
ADJECTIVE_RATE = 0.5


def _noun_phrase(rng: random.Random) -> tuple[str, str]:
    article, noun = rng.choice(tuple(ARTICLES)), rng.choice(tuple(NOUNS))
    adjective = rng.choice(tuple(ADJECTIVES)) if rng.random() < ADJECTIVE_RATE else None
    english = " ".join(w for w in (article, adjective, noun) if w)
    toy = " ".join(w for w in (NOUNS[noun], ADJECTIVES.get(adjective or ""), ARTICLES[article]) if w)
    return english, toy


def sample(rng: random.Random, train: bool = False) -> tuple[str, str, dict[str, Any]]:
    subject, obj = _noun_phrase(rng), _noun_phrase(rng)
    verb = rng.choice(tuple(VERBS))
    english = f"{subject[0]} {verb} {obj[0]}"
    toy = f"{subject[1]} {obj[1]} {VERBS[verb]}"
    return f"english: {english}\ntoy: ", toy, {"source": english}
