"""Compare diffa-eval's `wer_diffa2` with WeNet's `tools/compute-wer.py`, the script DIFFA-2 scores ASR with.

    python scripts/parity_wer.py /path/to/compute-wer.py [--utterances 2000] [--seed 0]

Generates reference/hypothesis pairs (LibriSpeech-style upper-case references; hypotheses with
case changes, punctuation inside, before and after words, apostrophes, "<unk>" tags, accented
and CJK characters, dropped, added and swapped words, empty lines), runs the script as DIFFA-2's
`run_asr_inference.sh` does (`--char=1 --v=1`) on all of them and on each pair alone, and
compares its counts (N, C, S, D, I) with diffa-eval's. Prints the agreement and both corpus WERs,
with Whisper's normalized WER beside them; exits non-zero on any disagreement. The script is
not shipped: pass a copy (WeNet or DIFFA-2's `DIFFA-2/tools/compute-wer.py`).
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from diffa_eval.scoring.wer import english_normalizer, wenet_word_errors, word_errors

WORDS = (
    "the quick brown fox jumps over lazy dog mister brown said it's twenty three o'clock colour grey "
    "a an of to in he she they were was is not don't can't well yes no i"
).split()
ODDITIES = ("<unk>", "<noise>", "café", "naïve", "你好", "。", "、", "--", "'", "...", "Mr.", "23", "&", "!!")
COUNTS = re.compile(r"N=(\d+) C=(\d+) S=(\d+) D=(\d+) I=(\d+)")


def make_pairs(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        reference = [rng.choice(WORDS) for _ in range(rng.randint(0 if rng.random() < 0.03 else 1, 12))]
        hypothesis = []
        for word in reference:
            roll = rng.random()
            if roll < 0.08:
                continue  # dropped
            if roll < 0.16:
                word = rng.choice(WORDS)  # swapped
            word = rng.choice((word, word.lower(), word.capitalize(), word.upper()))
            if rng.random() < 0.25:
                word = (
                    rng.choice(("", ",", ", ", "!", "?", "\u3001")) + word + rng.choice(("", ",", ".", "?", "!", ";"))
                )
            hypothesis.append(word)
            if rng.random() < 0.08:
                hypothesis.append(rng.choice(ODDITIES + tuple(WORDS)))  # added
        separator = rng.choice((" ", " ", "  ", "\t"))
        pairs.append((" ".join(reference).upper(), separator.join(hypothesis)))
    return pairs


def reference_counts(script: Path, pairs: Sequence[tuple[str, str]]) -> tuple[list[tuple[int, ...]], tuple[int, ...]]:
    """Per-pair (N, C, S, D, I) and the overall counts, from one run of the script over all pairs."""
    with tempfile.TemporaryDirectory() as folder:
        ref, hyp = Path(folder) / "text", Path(folder) / "hyp"
        ref.write_text("".join(f"utt{i} {r}\n" for i, (r, _) in enumerate(pairs)), encoding="utf-8")
        hyp.write_text("".join(f"utt{i} {h}\n" for i, (_, h) in enumerate(pairs)), encoding="utf-8")
        out = subprocess.run(
            [sys.executable, str(script), "--char=1", "--v=1", str(ref), str(hyp)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    per_utterance = {}
    for block in out.split("\nutt: ")[1:]:
        name, _, rest = block.partition("\n")
        match = COUNTS.search(rest)
        assert match, block
        per_utterance[name] = tuple(int(n) for n in match.groups())
    overall = COUNTS.search(out.split("Overall ->")[1])
    assert overall, out[-500:]
    return [per_utterance[f"utt{i}"] for i in range(len(pairs))], tuple(int(n) for n in overall.groups())


def our_counts(pairs: Sequence[tuple[str, str]]) -> list[tuple[int, ...]]:
    counts = []
    for reference, hypothesis in pairs:
        errors = wenet_word_errors(reference, hypothesis)
        hits, subs, dels, ins = errors.hits, errors.substitutions, errors.deletions, errors.insertions
        counts.append((errors.reference_words, hits, subs, dels, ins))
    return counts


def wer(counts: Sequence[tuple[int, ...]]) -> float:
    words, _, subs, dels, ins = (sum(column) for column in zip(*counts, strict=True))
    return 100.0 * (subs + dels + ins) / words


def whisper_wer(pairs: Sequence[tuple[str, str]]) -> float:
    normalize = english_normalizer()
    errors = [e for r, h in pairs if (e := word_errors(normalize(r), normalize(h))) is not None]
    return 100.0 * sum(e.errors for e in errors) / sum(e.reference_words for e in errors)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("script", type=Path, help="a copy of compute-wer.py (WeNet's, or DIFFA-2's tools/)")
    parser.add_argument("--utterances", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pairs = make_pairs(args.utterances, args.seed)
    theirs, overall = reference_counts(args.script, pairs)
    ours = our_counts(pairs)
    agree = sum(a == b for a, b in zip(theirs, ours, strict=True))
    totals = tuple(sum(column) for column in zip(*ours, strict=True))
    print(f"utterances with the same N, C, S, D, I: {agree}/{len(pairs)}")
    print(f"overall N, C, S, D, I: compute-wer.py {overall}, diffa-eval {totals}")
    print(f"corpus WER: compute-wer.py {wer([overall]):.4f}%, wer_diffa2 {wer(ours):.4f}%")
    print(f"Whisper-normalized WER of the same pairs: {whisper_wer(pairs):.4f}%")
    sys.exit(0 if agree == len(pairs) and totals == overall else 1)


if __name__ == "__main__":
    main()
