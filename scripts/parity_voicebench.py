"""Agreement between diffa-eval's VoiceBench rules and the official evaluators on generated responses.

    python scripts/parity_voicebench.py /path/to/VoiceBench --seed 0 --samples 5000

The checkout may be a work tree or a bare git repository. The official evaluator sources
(`src/evaluator/{base,mcq,bbh,harm,ifeval}.py` and the vendored `instruction_following_eval`)
are copied to a temporary package and imported without the repository's `__init__`, which
pulls in API clients. When the checkout has history, the case-sensitive advbench rule is read
from the parent of commit 0842845 and compared with `refuses(..., case_sensitive=True)`.

Responses are generated from a seeded RNG out of the official phrase lists (read from the
official sources, not from diffa-eval), surrounding text, case changes, punctuation and the
model markers the evaluators strip. The official unseeded `random.choice` fallbacks are
intercepted, so an item the official code would guess on is reported as a fallback; it agrees
when diffa-eval returns None for it. BBH is compared twice: the rules alone, and the
`voicebench_bbh` task's scorer on samples whose shared ids the task made unique (the generated
ids repeat), which must still pick its rules by the original id. Prints agreement counts and
exits non-zero on any disagreement. Needs the `ifeval` extra; loguru and absl-py are replaced by stand-ins if absent.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import io
import logging
import random
import shutil
import subprocess
import sys
import tempfile
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diffa_eval.task import TASKS, builtin_module

VOICEBENCH = builtin_module("voicebench")
EVALUATORS = builtin_module("voicebench.evaluators")
bbh_answer, mcq_letter, refuses = EVALUATORS.bbh_answer, EVALUATORS.mcq_letter, EVALUATORS.refuses
ifeval_check, ifeval_summary = EVALUATORS.ifeval_check, EVALUATORS.ifeval_summary

EVALUATOR_FILES = ("base.py", "mcq.py", "bbh.py", "harm.py", "ifeval.py")
IFEVAL_FOLDER = "instruction_following_eval"
CASE_INSENSITIVE_HARM_COMMIT = "0842845a532af34396b173f92f304aa9e2b3c4ab"
PACKAGE = "voicebench_official"
FALLBACK = "<official random guess>"
BBH_TASKS = ("sports_understanding", "hyperbaton", "navigate", "web_of_lies")

WORDS = (
    "the model thinks about it carefully and then gives a short answer option choice sentence order "
    "adjective plausible player scored goal basketball football tennis starting point steps forward "
    "backward left right truth lies tells says question answer correct incorrect final result because "
    "therefore however maybe not sure yes no a an apple banana cat dog water energy cell economy law"
).split()
SENTENCES = (
    "Let me think step by step.",
    "Here is my reasoning.",
    "I hope this helps!",
    "Dr. Smith went to Washington.",
    "It costs 3.5 dollars in the U.S. today.",
    "This is a tricky one, but let's see.",
    "The first option seems odd.",
    "Both options look similar; however, one is better.",
    "Please let me know if you need anything else.",
    "In summary, the evidence points one way.",
)
FOREIGN = (
    "Bonjour, je suis très heureux de vous aider aujourd'hui avec cette question.",
    "Hallo, ich freue mich sehr, Ihnen heute bei dieser Frage zu helfen.",
    "Hola, estoy muy feliz de ayudarte hoy con esta pregunta tan interesante.",
    "Ciao, sono molto felice di aiutarti oggi con questa domanda.",
    "नमस्ते, आज इस प्रश्न में आपकी मदद करके मुझे बहुत खुशी हो रही है।",
    "你好，今天很高兴能帮助你回答这个问题。",
    "Привет, я очень рад помочь вам сегодня с этим вопросом.",
    "こんにちは、今日はこの質問にお答えできてうれしいです。",
)
MARKERS = ("<1>", "<2>", "<3>", "<4>")


@dataclass
class Tally:
    """Agreement counts for one comparison."""

    name: str
    items: int = 0
    agree: int = 0
    official_fallbacks: int = 0
    disagreements: list[str] = field(default_factory=list)

    def add(self, official: object, ours: object, shown: str) -> None:
        self.items += 1
        fallback = official == FALLBACK
        self.official_fallbacks += fallback
        if (ours is None) if fallback else (official == ours):
            self.agree += 1
        else:
            self.disagreements.append(f"{shown!r}: official {official!r}, diffa-eval {ours!r}")


# ---------------------------------------------------------------- the official code


def git_dir(checkout: Path) -> bool:
    probe = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--git-dir"], capture_output=True, text=True)
    return probe.returncode == 0


def git_show(checkout: Path, revision: str, path: str) -> str | None:
    shown = subprocess.run(
        ["git", "-C", str(checkout), "show", f"{revision}:{path}"], capture_output=True, text=True
    )
    return shown.stdout if shown.returncode == 0 else None


def official_sources(checkout: Path, revision: str) -> dict[str, str]:
    """Relative path under src/evaluator -> source text, from the work tree or from git."""
    names = [*EVALUATOR_FILES]
    names += [f"{IFEVAL_FOLDER}/{name}" for name in ("__init__.py", "instructions.py", "instructions_registry.py")]
    names += [f"{IFEVAL_FOLDER}/instructions_util.py"]
    sources: dict[str, str] = {}
    in_git = git_dir(checkout)
    for name in names:
        text = git_show(checkout, revision, f"src/evaluator/{name}") if in_git else None
        if text is None:
            path = checkout / "src" / "evaluator" / name
            if not path.is_file():
                sys.exit(f"{checkout} has no src/evaluator/{name}")
            text = path.read_text(encoding="utf-8")
        sources[name] = text
    if in_git:
        older = git_show(checkout, f"{CASE_INSENSITIVE_HARM_COMMIT}^", "src/evaluator/harm.py")
        if older is not None:
            sources["harm_case_sensitive.py"] = older
    return sources


def install_stand_ins() -> None:
    """loguru and absl.logging are only used for logging by the official code."""
    try:
        importlib.import_module("loguru")
    except ImportError:
        loguru = types.ModuleType("loguru")
        loguru.logger = logging.getLogger("loguru")  # type: ignore[attr-defined]
        sys.modules["loguru"] = loguru
    try:
        importlib.import_module("absl.logging")
    except ImportError:
        absl = types.ModuleType("absl")
        absl.logging = logging  # type: ignore[attr-defined]
        sys.modules["absl"] = absl
        sys.modules["absl.logging"] = logging


def load_official(sources: dict[str, str], folder: Path) -> dict[str, types.ModuleType]:
    package = folder / PACKAGE
    (package / IFEVAL_FOLDER).mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    for name, text in sources.items():
        (package / name).write_text(text, encoding="utf-8")
    install_stand_ins()
    sys.path.insert(0, str(folder))
    names = ["mcq", "bbh", "harm", "ifeval"] + (["harm_case_sensitive"] if "harm_case_sensitive.py" in sources else [])
    modules = {name: importlib.import_module(f"{PACKAGE}.{name}") for name in names}
    guess = types.SimpleNamespace(choice=lambda options: FALLBACK)
    modules["bbh"].random = guess  # type: ignore[attr-defined]
    modules["mcq"].random = guess  # type: ignore[attr-defined]
    return modules


def string_constants(tree: ast.AST, min_length: int = 1) -> list[str]:
    found = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)]
    return sorted({value for value in found if isinstance(value, str) and len(value) >= min_length})


def module_constants(module: types.ModuleType, min_length: int = 1) -> list[str]:
    return string_constants(ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8")), min_length)


def bbh_phrases_by_task(module: types.ModuleType) -> dict[str, list[str]]:
    """The phrases of each official BBH extractor method, with the shared yes/no ones where it uses them."""
    methods = {
        node.name: [text for text in string_constants(node, 3) if " " in text]
        for node in ast.walk(ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef)
    }
    shared = methods["extract_answer_yn"]
    return {
        "sports_understanding": shared + methods["extract_answer_sports"],
        "hyperbaton": methods["extract_answer_hyperbaton"],
        "navigate": shared + methods["extract_answer_navigate"],
        "web_of_lies": shared + methods["extract_answer_lies"],
    }


# ---------------------------------------------------------------- response generators


def recase(rng: random.Random, text: str) -> str:
    return rng.choice([text, text, text.lower(), text.upper(), text.capitalize(), text.title()])


def noise(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def punctuate(rng: random.Random, text: str) -> str:
    marks = [",", ".", ":", "-", '"', "**", "：", "!", "?", "'", "’", "(", ")"]
    pieces = text.split(" ")
    for _ in range(rng.randint(0, 3)):
        index = rng.randrange(len(pieces))
        pieces[index] = pieces[index] + rng.choice(marks)
    return " ".join(pieces)


def mutate(rng: random.Random, text: str) -> str:
    if not text:
        return text
    index = rng.randrange(len(text))
    action = rng.choice(["drop", "double", "swapcase", "space"])
    if action == "drop":
        return text[:index] + text[index + 1 :]
    if action == "double":
        return text[:index] + text[index] * 2 + text[index:]
    if action == "swapcase":
        return text[:index] + text[index].swapcase() + text[index + 1 :]
    return text[:index] + " " + text[index:]


def wrap(rng: random.Random, core: str) -> str:
    before = rng.choice(["", "", rng.choice(SENTENCES) + " ", noise(rng, rng.randint(1, 12)) + " ", "\n"])
    after = rng.choice(
        ["", "", " " + rng.choice(SENTENCES), " " + noise(rng, rng.randint(1, 12)), "\n\n" + noise(rng, 5)]
    )
    text = before + core + after
    roll = rng.random()
    if roll < 0.08:
        text = rng.choice(MARKERS) + rng.choice(["", " ", "\n"]) + text
    elif roll < 0.14:
        text = text + rng.choice(["<|user|>", " <|user|>", "<|turn_end|>"])
    return text


def mcq_responses(rng: random.Random, templates: Sequence[str], count: int) -> Iterator[str]:
    letters = "abcdabcdABCDef"
    fixed = [
        "", " ", "B", "b", "(b)", "(B)", "B.", "c)", "d: because", "a,", "Answer: C", "**C**", "**C. Water**",
        "the answer is an apple", "The answer is A.", "答案是C", "答案是 b", "选项D是最合适的",
        "I think it's B, not C.",
        "Option D: the cell.", "e", "A B C D", "none of them", "\\boxed{B}", "The answer is \\( \\boxed{C} \\)",
    ]
    for index in range(count):
        if index < len(fixed):
            yield fixed[index]
            continue
        kind = rng.random()
        if kind < 0.55:
            core = rng.choice(templates).replace("[CHOICE]", rng.choice(letters))
            core = mutate(rng, core) if rng.random() < 0.15 else core
        elif kind < 0.75:
            letter = rng.choice(letters)
            forms = [letter, f"({letter})", f"{letter}.", f"{letter})", f"{letter}:", f"{letter},", f"**{letter}**"]
            core = rng.choice(forms)
            core += rng.choice(["", " " + noise(rng, 4), "\n" + rng.choice(SENTENCES)])
            if rng.random() < 0.7:
                yield recase(rng, core) if rng.random() < 0.2 else core
                continue
        elif kind < 0.85:
            core = noise(rng, rng.randint(0, 20))
        else:
            core = rng.choice(["would be a.", 'would be "a.', "would be a scorpion (a)", "is an", "the answer is a"])
            core = rng.choice([core, core.upper(), " " + core])
        yield wrap(rng, recase(rng, core) if rng.random() < 0.3 else core)


def fill_regex(rng: random.Random, pattern: str) -> str:
    return pattern.replace("(.+?)", noise(rng, rng.randint(1, 4)))


def bbh_responses(rng: random.Random, phrases: dict[str, list[str]], count: int) -> Iterator[tuple[str, str]]:
    every_phrase = sorted({phrase for task_phrases in phrases.values() for phrase in task_phrases})
    for index in range(count):
        task = rng.choice(BBH_TASKS)
        sample_id = rng.choice([f"{task}_{index}", f"bbh_{task}_{index:04d}", f"{task}"])
        kind = rng.random()
        if kind < 0.6:
            core = fill_regex(rng, rng.choice(phrases[task] if rng.random() < 0.85 else every_phrase))
            core = mutate(rng, core) if rng.random() < 0.1 else core
        elif kind < 0.8:
            short = ["yes", "no", "a", "b", "(a)", "(b)", "a)", "b)", "a ", "b ", "not plausible", "Yes.", "No!"]
            core = rng.choice(short)
            core += rng.choice(["", "", " " + noise(rng, 3), ", " + noise(rng, 2)])
        else:
            core = noise(rng, rng.randint(0, 15)) + rng.choice(["", " yes", " no", " lies", " tells the truth"])
        core = punctuate(rng, core) if rng.random() < 0.3 else core
        yield wrap(rng, recase(rng, core) if rng.random() < 0.25 else core), sample_id


def harm_responses(rng: random.Random, phrases: Sequence[str], count: int) -> Iterator[str]:
    for index in range(count):
        if index % 50 == 0:
            yield rng.choice(["", " ", "\n\t", "\u3000"])
            continue
        kind = rng.random()
        if kind < 0.6:
            core = rng.choice(phrases)
            core = mutate(rng, core) if rng.random() < 0.2 else core
            core = recase(rng, core) if rng.random() < 0.5 else core
            core = core.replace("'", "’") if rng.random() < 0.1 else core
        else:
            core = noise(rng, rng.randint(1, 25))
        yield wrap(rng, core)


# ---------------------------------------------------------------- IFEval instances


def nth_paragraph_arguments(rng: random.Random, keywords: Sequence[str]) -> dict[str, Any]:
    # An nth_paragraph beyond num_paragraphs makes the official instruction draw one at random.
    paragraphs = rng.randint(1, 4)
    nth = rng.randint(1, paragraphs)
    return {"num_paragraphs": paragraphs, "nth_paragraph": nth, "first_word": rng.choice(keywords)}


def ifeval_instance(rng: random.Random, keywords: Sequence[str]) -> tuple[str, list[str], list[dict[str, Any]]]:
    """A response plus one to three instructions with arguments, some of which it follows."""
    relation = lambda: rng.choice(["less than", "at least"])  # noqa: E731
    makers: dict[str, Callable[[], dict[str, Any]]] = {
        "keywords:existence": lambda: {"keywords": rng.sample(list(keywords), rng.randint(1, 3))},
        "keywords:frequency": lambda: {
            "keyword": rng.choice(keywords), "frequency": rng.randint(1, 4), "relation": relation()
        },
        "keywords:forbidden_words": lambda: {"forbidden_words": rng.sample(list(keywords), rng.randint(1, 3))},
        "keywords:letter_frequency": lambda: {
            "letter": rng.choice("aeiostz"), "let_frequency": rng.randint(1, 12), "let_relation": relation()
        },
        "language:response_language": lambda: {"language": rng.choice(["en", "fr", "de", "es", "it", "hi", "ru"])},
        "length_constraints:number_sentences": lambda: {"num_sentences": rng.randint(1, 8), "relation": relation()},
        "length_constraints:number_paragraphs": lambda: {"num_paragraphs": rng.randint(1, 4)},
        "length_constraints:number_words": lambda: {"num_words": rng.randint(5, 80), "relation": relation()},
        "length_constraints:nth_paragraph_first_word": lambda: nth_paragraph_arguments(rng, keywords),
        "detectable_content:number_placeholders": lambda: {"num_placeholders": rng.randint(1, 3)},
        "detectable_content:postscript": lambda: {"postscript_marker": rng.choice(["P.S.", "P.P.S", "Note"])},
        "detectable_format:number_bullet_lists": lambda: {"num_bullets": rng.randint(1, 4)},
        "detectable_format:constrained_response": dict,
        "detectable_format:number_highlighted_sections": lambda: {"num_highlights": rng.randint(1, 3)},
        "detectable_format:multiple_sections": lambda: {
            "section_spliter": rng.choice(["Section", "SECTION", "Part"]), "num_sections": rng.randint(1, 3)
        },
        "detectable_format:json_format": dict,
        "detectable_format:title": dict,
        "combination:two_responses": dict,
        "combination:repeat_prompt": lambda: {"prompt_to_repeat": "Write a short note about " + rng.choice(keywords)},
        "startend:end_checker": lambda: {
            "end_phrase": rng.choice(["Is there anything else I can help with?", "Peace."])
        },
        "change_case:capital_word_frequency": lambda: {
            "capital_frequency": rng.randint(1, 5), "capital_relation": relation()
        },
        "change_case:english_capital": dict,
        "change_case:english_lowercase": dict,
        "punctuation:no_comma": dict,
        "startend:quotation": dict,
    }
    ids = rng.sample(sorted(makers), rng.randint(1, 3))
    kwargs = [makers[instruction_id]() for instruction_id in ids]
    if rng.random() < 0.3:  # the dataset's rows carry every argument name, unused ones as None
        for arguments in kwargs:
            arguments.update({name: None for name in ("num_words", "keywords", "relation") if name not in arguments})
    return ifeval_response(rng, keywords, kwargs), ids, kwargs


def ifeval_response(rng: random.Random, keywords: Sequence[str], kwargs: Sequence[dict[str, Any]]) -> str:
    def paragraph() -> str:
        sentences = [rng.choice(SENTENCES) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.6:
            mention = " ".join(rng.choices(list(keywords), k=rng.randint(1, 4))) + "."
            sentences.insert(rng.randrange(len(sentences) + 1), mention)
        if rng.random() < 0.25:
            sentences.insert(0, rng.choice(keywords).capitalize() + rng.choice([" is first.", ", first.", "."]))
        return " ".join(sentences)

    parts = [paragraph() for _ in range(rng.randint(1, 4))]
    separator = rng.choice(["\n\n", "\n* * *\n", "\n", " "])
    extras = {name for arguments in kwargs for name in arguments}
    if rng.random() < 0.3 or "num_bullets" in extras:
        parts.append("\n".join(f"{rng.choice(['*', '-'])} {noise(rng, 3)}" for _ in range(rng.randint(1, 4))))
    if rng.random() < 0.3 or "num_highlights" in extras:
        parts.append(" ".join(rng.choice(["*highlighted part*", "**bold part**", "*", "*a* *b*"]) for _ in range(2)))
    if rng.random() < 0.2 or "section_spliter" in extras:
        spliters = [arguments["section_spliter"] for arguments in kwargs if arguments.get("section_spliter")]
        spliter = spliters[0] if spliters else "Section"
        parts = [f"{spliter} {number + 1}\n{part}" for number, part in enumerate(parts)]
    if rng.random() < 0.25:
        parts.insert(0, f"<<{noise(rng, 2)}>>" if rng.random() < 0.8 else "<<>>")
    if rng.random() < 0.25:
        parts.append(" ".join(f"[{rng.choice(WORDS)}]" for _ in range(rng.randint(1, 3))))
    if rng.random() < 0.25 or "postscript_marker" in extras:
        parts.append(rng.choice(["P.S. see you", "P.P.S more", "p.s. bye", "Note: fine", "*P.S.* ok"]))
    repeats = [arguments["prompt_to_repeat"] for arguments in kwargs if arguments.get("prompt_to_repeat")]
    if rng.random() < (0.5 if repeats else 0.1):
        parts.insert(0, repeats[0] if repeats else "Write a short note about " + rng.choice(keywords))
    text = separator.join(parts)
    roll = rng.random()
    if roll < 0.1:
        text = rng.choice(FOREIGN) + (" " + rng.choice(FOREIGN) if rng.random() < 0.5 else "")
    elif roll < 0.18:
        text = '{"answer": "' + noise(rng, 3) + '", "n": 3}'
        text = rng.choice([text, "```json\n" + text + "\n```", "```JSON\n" + text + "```", text[:-1]])
    elif roll < 0.24:
        text = paragraph() + "\n******\n" + paragraph() + rng.choice(["", "\n******\n", "\n******\n" + paragraph()])
    elif roll < 0.28:
        text = rng.choice(["My answer is yes.", "My answer is no.", "My answer is maybe.", "my answer is yes"])
    transform = rng.random()
    if transform < 0.12:
        text = text.upper()
    elif transform < 0.24:
        text = text.lower()
    elif transform < 0.32:
        text = text.replace(",", "")
    if rng.random() < 0.15:
        text = '"' + text + '"'
    if rng.random() < 0.15:
        text += rng.choice([" Is there anything else I can help with?", " Peace.", "\nPeace."])
    if rng.random() < 0.1:
        text = rng.choice(MARKERS[:3]) + rng.choice(["", " ", "\n"]) + text
    if rng.random() < 0.1:
        text += rng.choice(["<|user|>", "\n<|user|>"])
    if rng.random() < 0.03:
        text = rng.choice(["", "  ", "\n", "<1>", "<|user|>"])
    return text


# ---------------------------------------------------------------- comparisons


def compare_mcq(official: types.ModuleType, rng: random.Random, count: int) -> Tally:
    tally = Tally("mcq (openbookqa, mmsu)")
    evaluator = official.MCQEvaluator()
    templates = [text for text in module_constants(official) if "[CHOICE]" in text]
    for response in mcq_responses(rng, templates, count):
        letter = evaluator.extract_answer(response)
        tally.add(FALLBACK if letter is None else letter, mcq_letter(response), response)
    return tally


def compare_bbh(official: types.ModuleType, rng: random.Random, count: int) -> Tally:
    tally = Tally("bbh")
    evaluator = official.BBHEvaluator()
    for response, sample_id in bbh_responses(rng, bbh_phrases_by_task(official), count):
        with contextlib.redirect_stdout(io.StringIO()):
            answer = evaluator.extract_answer(response, sample_id)
        tally.add(answer, bbh_answer(response, sample_id), f"{sample_id}: {response}")
    return tally


def compare_bbh_task(official: types.ModuleType, rng: random.Random, count: int) -> Tally:
    """The `voicebench_bbh` task's scorer on samples built from records whose shared ids were made unique:
    its rules must still follow the original id, as the official evaluator's do."""
    task = TASKS.get("voicebench_bbh")
    evaluator = official.BBHEvaluator()
    items = list(bbh_responses(rng, bbh_phrases_by_task(official), count))
    records = [{"id": name, "prompt": "", "reference": "yes", "index": i} for i, (_, name) in enumerate(items)]
    samples = VOICEBENCH._unique_ids([task.sample_from_record(r) for r in records])
    renamed = sum(sample.id != sample.fields["id"] for sample in samples)
    tally = Tally(f"bbh through the task ({renamed} ids renamed)")
    for (response, sample_id), sample in zip(items, samples, strict=True):
        with contextlib.redirect_stdout(io.StringIO()):
            answer = evaluator.extract_answer(response, sample_id)
        extracted = task.score(sample, response).extracted
        tally.add(answer, None if extracted is None else int(extracted), f"{sample.id}: {response}")
    return tally


def compare_harm(official: types.ModuleType, rng: random.Random, count: int, case_sensitive: bool) -> Tally:
    tally = Tally("advbench refusal, " + ("case-sensitive (before 0842845)" if case_sensitive else "current"))
    evaluator = official.HarmEvaluator()
    phrases = module_constants(official, 2)
    for response in harm_responses(rng, phrases, count):
        tally.add(bool(evaluator.evaluate_single(response)), refuses(response, case_sensitive=case_sensitive), response)
    return tally


def compare_ifeval(official: types.ModuleType, rng: random.Random, count: int) -> tuple[Tally, Tally, Tally]:
    strict, loose = Tally("ifeval strict, per instruction"), Tally("ifeval loose, per instruction")
    summary = Tally("ifeval summary (with repeated prompts)")
    keywords = ("apple", "energy", "river", "music", "travel", "garden", "coffee", "robot")
    rows: list[dict[str, Any]] = []
    for index in range(count):
        response, ids, kwargs = ifeval_instance(rng, keywords)
        prompt = f"Instruction prompt {index}"
        if rows and rng.random() < 0.03:  # the same prompt again, with the same instructions
            earlier = rng.choice(rows)
            prompt, ids, kwargs = earlier["prompt"], earlier["instruction_id_list"], earlier["kwargs"]
        row = {"key": index, "prompt": prompt, "instruction_id_list": ids, "kwargs": kwargs, "response": response}
        rows.append(row)
    ours = []
    for row in rows:
        example = official.InputExample(row["key"], row["instruction_id_list"], row["prompt"], row["kwargs"])
        own = {row["prompt"]: official.read_prompt_to_response_dict([row])[row["prompt"]]}
        official_strict = official.test_instruction_following_strict(example, own).follow_instruction_list
        official_loose = official.test_instruction_following_loose(example, own).follow_instruction_list
        result = ifeval_check(row["response"], row["instruction_id_list"], row["kwargs"], row["prompt"])
        ours.append(result)
        for position, instruction_id in enumerate(row["instruction_id_list"]):
            shown = f"{instruction_id} {row['kwargs'][position]} on {row['response']!r}"
            strict.add(official_strict[position], result.strict[position], shown)
            loose.add(official_loose[position], result.loose[position], shown)
    with contextlib.redirect_stdout(io.StringIO()):
        official_summary = {name: float(value) for name, value in official.IFEvaluator().evaluate(rows).items()}
    our_summary = ifeval_summary(ours)
    for name in official_summary:
        summary.add(official_summary[name], our_summary.get(name), name)
    return strict, loose, summary


def report(tallies: Sequence[Tally]) -> int:
    print(f"{'comparison':<48} {'items':>7} {'agree':>7} {'disagree':>9} {'official fallbacks':>19}")
    for tally in tallies:
        disagree = tally.items - tally.agree
        print(f"{tally.name:<48} {tally.items:>7} {tally.agree:>7} {disagree:>9} {tally.official_fallbacks:>19}")
    failures = [line for tally in tallies for line in tally.disagreements]
    for line in failures[:20]:
        print("  DISAGREE", line)
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("checkout", type=Path, help="an official VoiceBench checkout (work tree or git repository)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=5000, help="generated responses per evaluator")
    parser.add_argument("--rev", default="HEAD", help="the commit to read when the checkout is a git repository")
    arguments = parser.parse_args(argv)
    rng = random.Random(arguments.seed)
    folder = Path(tempfile.mkdtemp(prefix="voicebench-official-"))
    try:
        ifeval_check("warm up", ["punctuation:no_comma"], [{}], "")  # offline NLTK data and a seeded langdetect
        official = load_official(official_sources(arguments.checkout, arguments.rev), folder)
        tallies = [
            compare_mcq(official["mcq"], rng, arguments.samples),
            compare_bbh(official["bbh"], rng, arguments.samples),
            compare_bbh_task(official["bbh"], rng, arguments.samples),
            compare_harm(official["harm"], rng, arguments.samples, case_sensitive=False),
        ]
        if "harm_case_sensitive" in official:
            tallies.append(compare_harm(official["harm_case_sensitive"], rng, arguments.samples, case_sensitive=True))
        else:
            print("no git history: the case-sensitive advbench rule is not compared")
        tallies.extend(compare_ifeval(official["ifeval"], rng, arguments.samples))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"seed {arguments.seed}, {arguments.samples} responses per evaluator, official code at {arguments.checkout}")
    return report(tallies)


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    sys.exit(main())
