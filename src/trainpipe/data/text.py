"""Text columns as token ids: a word tokenizer and a vocabulary fitted on the training split.

A text feature (``data.text``) reaches the model as ``max_tokens`` token ids per row: the words of
the text, lowercased, each mapped through the vocabulary, cut or padded to ``max_tokens``. Id 0
is padding and id 1 an unknown word; the vocabulary holds the ``vocab_size - 2`` most frequent
words of the training split (ties broken alphabetically, so the fit is deterministic). It is
saved with the model, so evaluation and inference encode text the same way.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

PAD = "<pad>"
UNKNOWN = "<unk>"
PAD_ID = 0
UNKNOWN_ID = 1

#: A word: letters and digits, with an apostrophe suffix kept; matched in the lowercased text.
WORD_PATTERN = r"[a-z0-9]+(?:'[a-z]+)?"
_WORD = re.compile(WORD_PATTERN)


def tokenize(text: str) -> list[str]:
    """The lowercased words of ``text`` (letters and digits, with an apostrophe suffix kept)."""
    return _WORD.findall(text.lower())


def fit_vocabulary(texts: Iterable[str], size: int) -> list[str]:
    """The vocabulary of at most ``size`` entries: padding, unknown, then the most frequent
    words (ties alphabetical)."""
    return vocabulary_from_counts(word_counts(texts), size)


def word_counts(texts: Iterable[str]) -> Counter[str]:
    """How often each word occurs in ``texts`` (counts of parts add up to the whole's)."""
    return Counter(word for text in texts for word in tokenize(text))


def vocabulary_from_counts(counts: Counter[str], size: int) -> list[str]:
    """:func:`fit_vocabulary` from word counts (a streamed split sums them block by block)."""
    if size < 3:
        raise ValueError(f"a vocabulary needs room for padding, unknown and a word; got {size}")
    words = sorted(counts, key=lambda w: (-counts[w], w))[: size - 2]
    return [PAD, UNKNOWN, *words]


def encode(texts: Sequence[str], vocabulary: Sequence[str], max_tokens: int) -> np.ndarray:
    """Token ids ``[len(texts), max_tokens]`` (int64): the first ``max_tokens`` words of each
    text, unknown words as :data:`UNKNOWN_ID`, padded with :data:`PAD_ID`."""
    index = {word: i for i, word in enumerate(vocabulary)}
    ids = np.full((len(texts), max_tokens), PAD_ID, dtype=np.int64)
    for row, text in enumerate(texts):
        words = tokenize(text)[:max_tokens]
        ids[row, : len(words)] = [index.get(w, UNKNOWN_ID) for w in words]
    return ids


def word_index(vocabulary: Sequence[str]) -> dict[str, int]:
    """Word to token id, for mapping word tables (synonyms) onto the vocabulary."""
    return {word: i for i, word in enumerate(vocabulary) if i > UNKNOWN_ID}


def describe_text(texts: Iterable[str]) -> dict[str, float]:
    """Summary statistics of a text column: words per text, empty texts, distinct words."""
    lengths: list[int] = []
    words: set[str] = set()
    for text in texts:
        tokens = tokenize(text)
        lengths.append(len(tokens))
        words.update(tokens)
    counts = np.asarray(lengths or [0], dtype=np.float64)
    return {
        "mean_words": float(counts.mean()),
        "max_words": float(counts.max()),
        "empty": float(np.sum(counts == 0)),
        "distinct_words": float(len(words)),
    }
