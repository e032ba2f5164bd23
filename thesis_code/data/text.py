"""Sentences for the sentence VAE: the example sentences of WordNet 3.0, offline and verified.

Source: Debian's ``wordnet-base`` (``/usr/share/wordnet/data.{noun,verb,adj,adv}``), or the same files
extracted from the .deb without root into ``$THESIS_DATA_DIR/raw/usr/share/wordnet``. Every synset line
of a ``data.*`` file ends with a gloss after ``|``: a definition followed by usage examples in double
quotes, e.g. ``| cause to be alert and energetic; "Coffee and tea stimulate me"``. The quoted examples
are short, grammatical English sentences written by lexicographers, which makes them a small stand-in for
the Penn Treebank sentences of Bowman et al. (2016).

Pipeline (all deterministic):

1. every quoted example of the four files, in file order;
2. :func:`tokenize`: lower-cased, split into words (letters/digits with inner apostrophes, e.g.
   ``doesn't``) and single punctuation characters;
3. kept when it has 5 to 20 word tokens (punctuation not counted); duplicates dropped; sorted;
4. :func:`split_of`: a sentence belongs to train / validation / test by ``sha256(f"{seed}:{sentence}")``
   mod 100 (< 80 train, < 90 validation, else test), so the split of a sentence never depends on the
   others and adding sentences never moves an old one;
5. :class:`Vocab` fitted on the *train* split only (a minimum count and/or a maximum size);
   everything else maps to ``<unk>``.

The parsed sentence list is cached as ``$THESIS_DATA_DIR/wordnet_sentences.json`` and verified on every
load by its count and a SHA-256 of the sentences (pinned in :data:`WORDNET`); a mismatching cache is
rebuilt from the source, and a mismatching source raises.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

import torch

from ..storage import atomic_write
from .common import FETCH_HINT, DataNotFoundError, data_dir

SPLITS = ("train", "validation", "test")
PARTS = ("noun", "verb", "adj", "adv")
PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)          # ids 0, 1, 2, 3
SYSTEM_DIR = Path("/usr/share/wordnet")  # where `apt-get install wordnet-base` puts the files
CACHE_NAME = "wordnet_sentences.json"

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|[^\sa-z0-9]")
_QUOTED = re.compile(r'"([^"]+)"')


@dataclass(frozen=True)
class TextSpec:
    name: str
    n_sentences: int
    sha256: str           # of the sorted sentences joined by "\n" (UTF-8)
    split_counts: tuple[int, int, int]   # train, validation, test with split seed 0
    min_words: int
    max_words: int
    how_to_get: str


WORDNET = TextSpec(
    "wordnet", 29_771,
    "4dc1b96134755050c14ddaef33534ba29d65ea8e84c3efc902ef23fb7b7c6b9b",
    (23_938, 2_923, 2_910), 5, 20,
    "apt-get install wordnet-base   (or without root: apt-get download wordnet-base && dpkg -x "
    "wordnet-base_*.deb $THESIS_DATA_DIR/raw; or " + FETCH_HINT + ")",
)


# ---------------------------------------------------------------- parsing

def tokenize(sentence: str) -> list[str]:
    """Lower-cased words (inner apostrophes kept: ``don't``) and single punctuation characters."""
    return _TOKEN.findall(sentence.lower())


def n_words(tokens: Sequence[str]) -> int:
    return sum(1 for t in tokens if t[0].isalnum())


def wordnet_dir() -> Path:
    """The folder with ``data.noun`` ...: the extracted .deb under the data folder, else the system's."""
    for folder in (data_dir() / "raw" / "usr/share/wordnet", SYSTEM_DIR):
        if all((folder / f"data.{p}").exists() for p in PARTS):
            return folder
    raise DataNotFoundError(
        f"WordNet 3.0 data files (data.noun, data.verb, data.adj, data.adv) not found in "
        f"{data_dir() / 'raw/usr/share/wordnet'} or {SYSTEM_DIR}. Get them with: {WORDNET.how_to_get}")


def quoted_examples(folder: Path) -> list[str]:
    """Every double-quoted example in the glosses of the four data files, in file order."""
    out: list[str] = []
    for part in PARTS:
        with open(folder / f"data.{part}", encoding="utf-8") as f:
            for line in f:
                if line.startswith("  ") or "|" not in line:      # licence header lines start with 2 spaces
                    continue
                out += _QUOTED.findall(line.split("|", 1)[1])
    return out


def parse_sentences(folder: Path, min_words: int = 5, max_words: int = 20) -> list[str]:
    """Unique tokenized sentences (tokens joined by single spaces) with ``min_words``..``max_words``
    word tokens, sorted."""
    keep = set()
    for example in quoted_examples(folder):
        tokens = tokenize(example.strip())
        if min_words <= n_words(tokens) <= max_words:
            keep.add(" ".join(tokens))
    return sorted(keep)


def sentences_checksum(sentences: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sentences).encode("utf-8")).hexdigest()


def load_sentences(spec: TextSpec = WORDNET, verify: bool = True) -> list[str]:
    """All sentences (sorted), from the JSON cache or parsed anew from the WordNet files.

    ``verify=False`` skips the pinned count/checksum (for tests on small fake files)."""
    cache = data_dir() / CACHE_NAME
    if cache.exists():
        try:
            sentences = json.loads(cache.read_text(encoding="utf-8"))["sentences"]
            if not verify or _matches(sentences, spec):
                return sentences
        except (ValueError, KeyError, TypeError):
            pass                                             # corrupted cache: rebuild below
    sentences = parse_sentences(wordnet_dir(), spec.min_words, spec.max_words)
    if verify and not _matches(sentences, spec):
        raise DataNotFoundError(
            f"the WordNet files in {wordnet_dir()} give {len(sentences)} sentences with SHA-256 "
            f"{sentences_checksum(sentences)[:16]}..., expected {spec.n_sentences} and "
            f"{spec.sha256[:16]}... (WordNet 3.0 of Debian's wordnet-base). Reinstall with: {spec.how_to_get}")
    payload = json.dumps({"source": "WordNet 3.0 glosses", "sha256": sentences_checksum(sentences),
                          "sentences": sentences}, ensure_ascii=False).encode("utf-8")
    atomic_write(cache, lambda f: f.write(payload))
    return sentences


def _matches(sentences: Sequence[str], spec: TextSpec) -> bool:
    return len(sentences) == spec.n_sentences and sentences_checksum(sentences) == spec.sha256


def split_of(sentence: str, seed: int = 0) -> str:
    """train (80 %), validation (10 %) or test (10 %) by a seeded hash of the sentence itself."""
    bucket = int.from_bytes(hashlib.sha256(f"{seed}:{sentence}".encode("utf-8")).digest()[:8], "big") % 100
    return "train" if bucket < 80 else "validation" if bucket < 90 else "test"


def split_sentences(sentences: Iterable[str], seed: int = 0) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for sentence in sentences:
        out[split_of(sentence, seed)].append(sentence)
    return out


# ---------------------------------------------------------------- vocabulary

class Vocab:
    """Token <-> id. Ids 0..3 are ``<pad>``, ``<unk>``, ``<bos>``, ``<eos>``; then the kept words by
    decreasing train count (ties alphabetical). Stored with a model as ``vocab.tokens`` (a list) and
    checked on load with :meth:`fingerprint`."""

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if tuple(tokens[:4]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with {SPECIALS}, got {tokens[:4]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("duplicate tokens in the vocabulary")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}

    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    @classmethod
    def fit(cls, sentences: Iterable[str], min_count: int = 1, max_size: int | None = None) -> "Vocab":
        """Words seen at least ``min_count`` times, at most ``max_size`` entries in all (specials
        included), the most frequent first."""
        counts = Counter(t for s in sentences for t in s.split())
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_size is not None:
            if max_size <= len(SPECIALS):
                raise ValueError(f"max_size must exceed {len(SPECIALS)} (the special tokens), got {max_size}")
            words = words[:max_size - len(SPECIALS)]
        return cls(list(SPECIALS) + words)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, sentence: str) -> list[int]:
        """``<bos> w_1 ... w_n <eos>`` as ids (a sentence is its tokens joined by spaces)."""
        return [self.bos_id] + [self.index.get(t, self.unk_id) for t in sentence.split()] + [self.eos_id]

    def decode(self, ids: Iterable[int], strip: bool = True) -> str:
        """Ids back to a sentence; with ``strip`` stops at ``<eos>`` and drops ``<bos>``/``<pad>``."""
        out = []
        for i in ids:
            i = int(i)
            if strip and i == self.eos_id:
                break
            if strip and i in (self.bos_id, self.pad_id):
                continue
            out.append(self.tokens[i])
        return " ".join(out)

    def to_dict(self) -> dict:
        return {"tokens": list(self.tokens)}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocab":
        return cls(d["tokens"])

    def fingerprint(self) -> str:
        return hashlib.sha256("\n".join(self.tokens).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- batches

class TokenBatch(NamedTuple):
    """``tokens``: (B, T) ids ``<bos> w_1 .. w_n <eos>`` then ``<pad>`` (= 0); ``lengths``: (B,) the
    number of ids before the padding (n + 2)."""

    tokens: torch.Tensor
    lengths: torch.Tensor

    def to(self, device) -> "TokenBatch":
        return TokenBatch(self.tokens.to(device), self.lengths.to(device))

    def __len__(self) -> int:       # a batch of B sentences
        return self.tokens.shape[0]


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int = 0) -> TokenBatch:
    if not sequences:
        raise ValueError("cannot pad an empty list of sequences")
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    tokens = torch.full((len(sequences), int(lengths.max())), pad_id, dtype=torch.long)
    for i, s in enumerate(sequences):
        tokens[i, :len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return TokenBatch(tokens, lengths)


class TextData:
    """Sentences as a data set for :func:`thesis_code.train.fit` (the protocol of ``batches.py``).

    Stores the padded id matrix of all sentences once; ``batch(idx)`` returns ``(TokenBatch, None)``
    trimmed to the longest sentence of the batch (no transform, so ``generator`` is unused)."""

    def __init__(self, sentences: Sequence[str], vocab: Vocab):
        if len(sentences) == 0:
            raise ValueError("TextData needs at least one sentence")
        self.sentences, self.vocab = list(sentences), vocab
        full = pad_batch([vocab.encode(s) for s in self.sentences], vocab.pad_id)
        self.tokens, self.lengths = full.tokens, full.lengths
        self._fingerprint: str | None = None

    @classmethod
    def _from_tensors(cls, sentences, vocab, tokens, lengths, fingerprint):
        out = cls.__new__(cls)
        out.sentences, out.vocab, out.tokens, out.lengths = sentences, vocab, tokens, lengths
        out._fingerprint = fingerprint
        return out

    def __len__(self) -> int:
        return len(self.sentences)

    def batch(self, idx: torch.Tensor, generator: torch.Generator | None = None) -> tuple[TokenBatch, None]:
        idx = torch.as_tensor(idx, dtype=torch.long, device=self.tokens.device)
        lengths = self.lengths[idx]
        width = int(lengths.max()) if len(idx) else 1
        return TokenBatch(self.tokens[idx, :width], lengths), None

    def all(self) -> TokenBatch:
        return self.batch(torch.arange(len(self)))[0]

    def to(self, device) -> "TextData":
        return TextData._from_tensors(self.sentences, self.vocab, self.tokens.to(device),
                                      self.lengths.to(device), self._fingerprint)

    @property
    def device(self) -> torch.device:
        return self.tokens.device

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            h = hashlib.sha256(self.vocab.fingerprint().encode())
            h.update(sentences_checksum(self.sentences).encode())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def unk_rate(self) -> float:
        """Share of word positions (``<bos>``/``<eos>``/padding excluded) mapped to ``<unk>``."""
        words = (self.tokens > self.vocab.eos_id) | (self.tokens == self.vocab.unk_id)
        return float((self.tokens == self.vocab.unk_id).sum() / words.sum().clamp_min(1))


@dataclass(frozen=True)
class Corpus:
    """The three splits of the sentences and the train-fitted vocabulary."""

    train: TextData
    validation: TextData
    test: TextData
    vocab: Vocab

    def split(self, name: str) -> TextData:
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return getattr(self, name)


def load_corpus(min_count: int = 2, max_size: int | None = None, split_seed: int = 0,
                sentences: Sequence[str] | None = None) -> Corpus:
    """The WordNet sentences split 80/10/10 and a vocabulary fitted on the train split.

    ``sentences`` replaces the WordNet list (tests). The defaults keep words seen at least twice in
    the train split."""
    if sentences is None:
        sentences = load_sentences()
    parts = split_sentences(sentences, split_seed)
    vocab = Vocab.fit(parts["train"], min_count=min_count, max_size=max_size)
    return Corpus(*(TextData(parts[s], vocab) for s in SPLITS), vocab=vocab)


def prepare() -> str:
    """Parse, verify and cache the sentences (what ``make data`` runs); returns a one-line summary."""
    sentences = load_sentences()
    parts = split_sentences(sentences)
    return (f"wordnet: {len(sentences):,} sentences (train {len(parts['train']):,}, validation "
            f"{len(parts['validation']):,}, test {len(parts['test']):,}), SHA-256 {WORDNET.sha256[:12]}... "
            f"verified, cached in {data_dir() / CACHE_NAME}")


if __name__ == "__main__":
    print(prepare())
