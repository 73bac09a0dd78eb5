"""VoiceBench's IFEval evaluator: strict and loose verdicts per instruction, and the summary.

Expected verdicts and summaries are what the official code (MatthewCYM/VoiceBench@5338154,
src/evaluator/ifeval.py with its vendored instruction_following_eval) returns for the same rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence

import pytest

pytest.importorskip("lm_eval", reason="the ifeval extra is not installed")

from diffa_eval.errors import MissingDependencyError
from diffa_eval.task import builtin_module

ifeval_module = builtin_module("voicebench.evaluators.ifeval")
IFEvalResult = ifeval_module.IFEvalResult
ifeval_check, ifeval_summary = ifeval_module.ifeval_check, ifeval_module.ifeval_summary

NO_COMMA = "punctuation:no_comma"
LOWERCASE = "change_case:english_lowercase"

# (response, instruction ids, kwargs, strict verdicts, loose verdicts)
CASES: list[tuple[str, list[str], list[dict[str, object]], tuple[bool, ...], tuple[bool, ...]]] = [
    ("Hello world", [NO_COMMA], [{}], (True,), (True,)),
    ("Hello, world", [NO_COMMA], [{}], (False,), (False,)),
    # loose drops the first line, the model's preamble
    ("Sure, here it is:\nNo commas in this line", [NO_COMMA], [{}], (False,), (True,)),
    # an empty response follows nothing, even an instruction it cannot break
    ("", [NO_COMMA], [{}], (False,), (False,)),
    ("<1>", [NO_COMMA], [{}], (False,), (False,)),
    ("<1> no commas here<|user|>", [NO_COMMA], [{}], (True,), (True,)),
    ("all lowercase text in plain english here", [LOWERCASE], [{}], (True,), (True,)),
    ("<2> all lowercase text in plain english here <|user|>", [LOWERCASE], [{}], (True,), (True,)),
    ("All lowercase text in plain english here", [LOWERCASE], [{}], (False,), (False,)),
    ("THIS IS ALL IN CAPITAL LETTERS OK", ["change_case:english_capital"], [{}], (True,), (True,)),
    ("Bye for now. Peace.", ["startend:end_checker"], [{"end_phrase": "Peace."}], (True,), (True,)),
    ("Bye for now. Peace.\nAnything else?", ["startend:end_checker"], [{"end_phrase": "Peace."}], (False,), (True,)),
    ('"Quoted answer."', ["startend:quotation"], [{}], (True,), (True,)),
    ('Here you go:\n"Quoted answer."', ["startend:quotation"], [{}], (False,), (True,)),
    # loose also removes markdown asterisks
    ('*"Quoted answer."*', ["startend:quotation"], [{}], (False,), (True,)),
    ('```json\n{"answer": 1}\n```', ["detectable_format:json_format"], [{}], (True,), (True,)),
    ('Here is the JSON:\n{"answer": 1}', ["detectable_format:json_format"], [{}], (False,), (True,)),
    # NLTK's English Punkt model: "Dr." ends no sentence, so this is 2 sentences
    (
        "Dr. Smith went home. He was tired.",
        ["length_constraints:number_sentences"],
        [{"num_sentences": 3, "relation": "less than"}],
        (True,),
        (True,),
    ),
    (
        "Dr. Smith went home. He was tired.",
        ["length_constraints:number_sentences"],
        [{"num_sentences": 2, "relation": "less than"}],
        (False,),
        (False,),
    ),
    (
        "HELLO WORLD THIS is GREAT",
        ["change_case:capital_word_frequency"],
        [{"capital_frequency": 3, "capital_relation": "at least"}],
        (True,),
        (True,),
    ),
    (
        "U.S.A. is BIG",
        ["change_case:capital_word_frequency"],
        [{"capital_frequency": 2, "capital_relation": "less than"}],
        (False,),
        (False,),
    ),
    (
        "Bonjour, je suis très heureux de vous aider aujourd'hui avec cette question.",
        ["language:response_language"],
        [{"language": "fr"}],
        (True,),
        (True,),
    ),
    (
        "Hello, I am very happy to help you today with this question.",
        ["language:response_language"],
        [{"language": "fr"}],
        (False,),
        (False,),
    ),
    ("<<My Title>>\nSome text", ["detectable_format:title"], [{}], (True,), (True,)),
    ("* one\n* two\n* three", ["detectable_format:number_bullet_lists"], [{"num_bullets": 3}], (True,), (True,)),
    (
        "Two *highlighted* and *marked* parts",
        ["detectable_format:number_highlighted_sections"],
        [{"num_highlights": 2}],
        (True,),
        (True,),
    ),
    ("Answer.\nP.S. see you", ["detectable_content:postscript"], [{"postscript_marker": "P.S."}], (True,), (True,)),
    ("Say hi. Hi there!", ["combination:repeat_prompt"], [{"prompt_to_repeat": "Say hi."}], (True,), (True,)),
    (
        "one two three four five six",
        ["length_constraints:number_words"],
        [{"num_words": 5, "relation": "less than"}],
        (False,),
        (False,),
    ),
    # dataset rows name every argument; the unused ones are None and are dropped
    (
        "Hello world",
        [NO_COMMA, "length_constraints:number_words"],
        [{"num_words": None, "relation": None}, {"num_words": 3, "relation": "less than", "keywords": None}],
        (True, True),
        (True, True),
    ),
    ("hello, world", [NO_COMMA, LOWERCASE], [{}, {}], (False, True), (False, True)),
    (
        "**hello** there\nline two",
        ["keywords:existence", "keywords:frequency"],
        [{"keywords": ["hello"]}, {"keyword": "hello", "frequency": 1, "relation": "at least"}],
        (True, True),
        (True, True),
    ),
]


@pytest.mark.parametrize(("response", "instruction_ids", "kwargs", "strict", "loose"), CASES)
def test_ifeval_check(
    response: str,
    instruction_ids: list[str],
    kwargs: list[dict[str, object]],
    strict: tuple[bool, ...],
    loose: tuple[bool, ...],
) -> None:
    result = ifeval_check(response, instruction_ids, kwargs, prompt="Follow the instructions.")
    assert (result.strict, result.loose) == (strict, loose)
    assert result.instruction_ids == tuple(instruction_ids)
    assert result.strict_prompt is all(strict)
    assert result.loose_prompt is all(loose)


def test_falsy_arguments_are_dropped_before_building() -> None:
    result = ifeval_check("Hello world", [NO_COMMA], [{"num_words": None, "relation": "", "keywords": []}], "p")
    assert result.instruction_kwargs == ({},)


def test_kwargs_must_match_the_instructions() -> None:
    with pytest.raises(ValueError, match="2 instruction ids but 1 kwargs"):
        ifeval_check("Hello", [NO_COMMA, LOWERCASE], [{}], "p")


def test_unknown_instruction_is_an_error() -> None:
    with pytest.raises(ValueError, match="detectable_format:haiku"):
        ifeval_check("Hello", ["detectable_format:haiku"], [{}], "p")


def test_values_drawn_for_out_of_range_arguments_are_reproducible() -> None:
    # nth_paragraph beyond num_paragraphs makes the instruction draw one at random
    arguments: list[Mapping[str, object]] = [{"num_paragraphs": 1, "nth_paragraph": 3, "first_word": "coffee"}]
    text = "Intro\ncoffee. More words.\nEnd"
    instruction = ["length_constraints:nth_paragraph_first_word"]
    verdicts = {ifeval_check(text, instruction, arguments, "p").loose for _ in range(5)}
    assert len(verdicts) == 1


ROWS: list[tuple[str, str, list[str], list[dict[str, object]]]] = [
    ("Write without commas.", "No commas at all", [NO_COMMA], [{}]),
    ("Write in lowercase.", "Mostly Lowercase words here", [LOWERCASE], [{}]),
    ("Write without commas.", "Oops, a comma", [NO_COMMA], [{}]),  # the official lookup uses this for both rows
    ("End with Peace.", "Calm, quiet. Peace.\nBye", ["startend:end_checker", NO_COMMA], [{"end_phrase": "Peace."}, {}]),
]


def results(rows: Sequence[tuple[str, str, list[str], list[dict[str, object]]]]) -> list[IFEvalResult]:
    return [ifeval_check(response, ids, kwargs, prompt) for prompt, response, ids, kwargs in rows]


def test_summary_collapses_repeated_prompts_as_the_official_lookup_does() -> None:
    assert ifeval_summary(results(ROWS)) == {
        "strict-prompt": 0.0,
        "strict-instruction": 0.0,
        "loose-prompt": 0.25,
        "loose-instruction": 0.4,
        "final": 0.1625,
    }


def test_summary_without_repeated_prompts() -> None:
    assert ifeval_summary(results(ROWS[:2] + ROWS[3:])) == {
        "strict-prompt": 0.3333333333333333,
        "strict-instruction": 0.25,
        "loose-prompt": 0.6666666666666666,
        "loose-instruction": 0.75,
        "final": 0.5,
    }


def test_summary_can_keep_each_items_own_verdicts() -> None:
    summary = ifeval_summary(results(ROWS), collapse_duplicate_prompts=False)
    expected = {"strict-prompt": 0.25, "strict-instruction": 0.2, "loose-prompt": 0.5, "loose-instruction": 0.6}
    assert summary == pytest.approx({**expected, "final": 0.3875})


def test_repeated_prompt_with_other_instructions_cannot_be_collapsed() -> None:
    rows = [ROWS[0], ("Write without commas.", "fine", [LOWERCASE], [{}])]
    with pytest.raises(ValueError, match="collapse_duplicate_prompts=False"):
        ifeval_summary(results(rows))


def test_summary_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        ifeval_summary([])


def test_sentence_counting_never_downloads() -> None:
    code = (
        "import nltk\n"
        "def refuse(*args, **kwargs):\n"
        "    raise AssertionError('nltk.download was called')\n"
        "nltk.download = refuse\n"
        "from diffa_eval.task import builtin_module\n"
        "ifeval_check = builtin_module('voicebench.evaluators').ifeval_check\n"
        "ids = ['length_constraints:number_sentences', 'change_case:capital_word_frequency']\n"
        "kwargs = [{'num_sentences': 3, 'relation': 'less than'},\n"
        "          {'capital_frequency': 1, 'capital_relation': 'at least'}]\n"
        "print(ifeval_check('Dr. Smith went HOME. He was tired.', ids, kwargs, 'p').strict)\n"
    )
    with tempfile.TemporaryDirectory() as empty:
        env = {**os.environ, "NLTK_DATA": empty}
        ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().splitlines()[-1] == "(True, True)"


def test_the_written_punkt_model_is_the_bundled_one() -> None:
    import nltk
    import punkt
    from nltk.tokenize.punkt import load_punkt_params

    ifeval_check("warm up", [NO_COMMA], [{}], "p")
    loaded = load_punkt_params(nltk.data.find("tokenizers/punkt_tab/english/"))
    bundled = punkt.load_model("english")
    assert loaded.abbrev_types == bundled.abbrev_types
    assert loaded.collocations == bundled.collocations
    assert loaded.sent_starters == bundled.sent_starters
    assert dict(loaded.ortho_context) == dict(bundled.ortho_context)


def test_missing_checks_name_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lm_eval.tasks.ifeval.instructions_registry", None)
    ifeval_module._instruction_classes.cache_clear()
    try:
        with pytest.raises(MissingDependencyError, match=r"lm-eval is not installed.*diffa-eval\[ifeval\]"):
            ifeval_check("Hello", [NO_COMMA], [{}], "p")
    finally:
        monkeypatch.undo()
        ifeval_module._instruction_classes.cache_clear()
