"""VoiceBench's multiple-choice matcher (openbookqa, mmsu): the answer letter in a free-form response.

The response is lowercased and a leading `<1>`, `<2>` or `<3>` marker removed. Then, in order:
each template of `MCQ_TEMPLATES` is filled with a, b, c and d in turn and the first filled
template found anywhere in the response gives the letter; otherwise a response that is exactly
a letter, or starts with a letter and one of `. , : )`, gives it; otherwise the special phrases
are tried. A response that none of this matches has no letter (the official evaluator then
guesses at random and counts the item in `fail`).

Matching is by substring, so the official false positives are reproduced: "the answer is an
apple" names A, and any " b," anywhere names B.
"""

from __future__ import annotations

CHOICE_PLACEHOLDER = "[CHOICE]"
LETTERS = ("a", "b", "c", "d")
LETTER_FOLLOWERS = (".", ",", ":", ")")

# The official template list, in its order (the one repeated entry included).
MCQ_TEMPLATES: tuple[str, ...] = (
    "答案是[CHOICE]",
    "答案是 [CHOICE]",
    "答案是选项[CHOICE]",
    "答案应该是[CHOICE]",
    "答案应该是 [CHOICE]",
    "答案就是选项[CHOICE]",
    "答案是‘[CHOICE]",
    "是[CHOICE]：",
    "答案选[CHOICE]",
    "[CHOICE]是正确",
    "选项[CHOICE]是最合适的",
    "answer is: **[CHOICE]",
    "answer is **[CHOICE]",
    "the answer to the question is: **[CHOICE]",
    "the answer to the multiple-choice question is **[CHOICE]",
    "the answer is '[CHOICE]'",
    "[CHOICE] is the best answer",
    "the answer is [CHOICE]",
    "the correct answer is [CHOICE]",
    "would select [CHOICE]",
    "would choose [CHOICE]",
    "would select option [CHOICE]",
    "would choose option [CHOICE]",
    'is "[CHOICE]"',
    'is "[CHOICE].',
    "is: **[CHOICE])",
    "is **[CHOICE],",
    "is **[CHOICE]:",
    "is **[CHOICE])",
    "is: **[CHOICE].",
    "is: **[CHOICE]:",
    "is **[CHOICE].",
    "be **[CHOICE],",
    "is: **[CHOICE]**",
    "is therefore option **[CHOICE]:",
    "is: \n\n**[CHOICE])",
    "as **[CHOICE]:",
    "be **[CHOICE])",
    "be **[CHOICE]:",
    "is: \n\n**[CHOICE]**",
    "suggests **[CHOICE])",
    "be option **[CHOICE]:",
    "with **[CHOICE])",
    'is typically "[CHOICE])',
    "be to **[CHOICE])",
    "is: \n\n[CHOICE])",
    "is likely to be: **[CHOICE].",
    "is **[CHOICE] (",
    "is option **[CHOICE]**",
    "is likely **[CHOICE]**",
    "is:\n**[CHOICE].",
    "is:\n\n**[CHOICE].",
    "would be [CHOICE]",
    "would be option [CHOICE]",
    "would be ([CHOICE])",
    "would be option ([CHOICE])",
    "is [CHOICE],",
    "is typically [CHOICE],",
    "is typically [CHOICE].",
    "i'd say [CHOICE].",
    "option [CHOICE].",
    "option [CHOICE]:",
    "option [CHOICE],",
    "the answer is:\n**[CHOICE]",
    "is [CHOICE]:",
    "is [CHOICE].",
    "is [CHOICE],",
    "is: [CHOICE].",
    "is ([CHOICE])",
    "is:\n**[CHOICE])",
    "is likely **[CHOICE]:",
    "is the **[CHOICE])",
    ":\n[CHOICE].",
    ":\n[CHOICE])",
    ":\n[CHOICE],",
    ": \n[CHOICE].",
    ":  \n[CHOICE].",
    ":\n\n[CHOICE].",
    ":\n\n[CHOICE])",
    "is most likely **[CHOICE]:",
    ":\n\n[CHOICE],",
    ": \n\n[CHOICE].",
    "is option [CHOICE],",
    "([CHOICE]) would be",
    "is ([CHOICE]).",
    "is [CHOICE])",
    "is: [CHOICE])",
    "is:\n\n[CHOICE]:",
    "is: **[CHOICE],",
    "(option [CHOICE])",
    "answer is ([CHOICE])",
    'select option "[CHOICE]"',
    "is: [CHOICE]",
    "is typically **[CHOICE],",
    "is **[CHOICE]**",
    "is likely '[CHOICE]'",
    "is option '[CHOICE]'",
    "is:\n**[CHOICE]:",
    "is \\( \\boxed{[CHOICE] ",
    "would be '[CHOICE]'",
    "is the **[CHOICE]** ",
    "question is [CHOICE] (",
    "is:\n\n**[CHOICE])",
    "closest to option **[CHOICE]**",
    "is most likely **[CHOICE])",
    "the answer to the question is '[CHOICE]'",
    "question is **[CHOICE]**",
    "known as '[CHOICE]'",
    "is '[CHOICE])",
    "is typically **[CHOICE]:",
    "is \\( \\boxed{\\text{[CHOICE]}} \\)",
    "is \\( \\text{[CHOICE]) }",
    "is \\( \\text{[CHOICE]} \\)",
    "is \\( \\text{[CHOICE]:",
    "is \\( \\text{[CHOICE])",
    "is \\(\\text{[CHOICE].",
    "is:\n\n**[CHOICE]",
    "is \\( \\text{[CHOICE].}",
    "is \\( \\text{[CHOICE].",
    "is \\( \\boxed{[CHOICE]}",
    "is:\n\\[ \\boxed{\\text{[CHOICE]}}",
    "is:\n\\[ \\text{[CHOICE])",
    "is:\n\n\\[ \\text{[CHOICE])",
    "is \\( \\textbf{[CHOICE])",
    "is \\( \\text{[CHOICE]}",
    "is: \\( \\text{[CHOICE].",
    "corresponds to:\n- **[CHOICE]:",
    "would be: **[CHOICE]**.",
    "is \\( [CHOICE] \\)",
    "is:\n**[CHOICE] ",
    "corresponds to option **[CHOICE]**",
    "be **[CHOICE]**",
    "be: \n\n[CHOICE])",
    "is:\n\\[ \\boxed{[CHOICE]}",
    "is:  \n**[CHOICE]:",
    "is: \\( \\text{[CHOICE])",
    "is likely: **[CHOICE],",
    "is } \\mathbf{[CHOICE].",
    "is \\( \\boxed{[CHOICE])",
    "is \\( \\textbf{[CHOICE]}",
    "is \\([CHOICE]\\)",
    "is:\n  \n**[CHOICE]:",
    "is option **[CHOICE] ",
    "is:\n\\( \\textbf{[CHOICE].",
    "is \\( \\mathbf{[CHOICE]}",
    "was option **[CHOICE]**",
    'is likely "[CHOICE])',
    "option **[CHOICE]:",
    'is "[CHOICE])',
    "is most likely **[CHOICE],",
    "is often **[CHOICE]:",
    "is:  \n[CHOICE])",
    " [CHOICE].",
    " [CHOICE],",
    " [CHOICE]:",
    " [CHOICE])",
    "**[CHOICE].",
    "**[CHOICE])",
    '"[CHOICE].',
    '"[CHOICE],',
    '"[CHOICE]:',
    "([CHOICE])",
    '"[CHOICE]"',
)

# Tried after the letter rules, in this order. Templates above already match all three
# (" [CHOICE].", '"[CHOICE].', "([CHOICE])"), so they never decide; they complete the protocol.
MCQ_SPECIAL_PHRASES: tuple[tuple[str, str], ...] = (
    ("would be a.", "A"),
    ('would be "a.', "A"),
    ("the best option from the given choices would be a scorpion (a)", "A"),
)

_FILLED_TEMPLATES: tuple[tuple[str, str], ...] = tuple(
    (template.replace(CHOICE_PLACEHOLDER, letter), letter.upper()) for template in MCQ_TEMPLATES for letter in LETTERS
)
_LETTER_PREFIXES: dict[str, tuple[str, ...]] = {
    letter: tuple(letter + follower for follower in LETTER_FOLLOWERS) for letter in LETTERS
}
_LEADING_MARKERS = ("<1>", "<2>", "<3>")


def mcq_letter(response: str) -> str | None:
    """The letter (A-D) VoiceBench's mcq evaluator reads from `response`; None where it would guess."""
    text = response.lower()
    if text.startswith(_LEADING_MARKERS):
        text = text[3:].strip()
    for filled, letter in _FILLED_TEMPLATES:
        if filled in text:
            return letter
    for letter in LETTERS:
        if text == letter or text.startswith(_LETTER_PREFIXES[letter]):
            return letter.upper()
    for phrase, letter in MCQ_SPECIAL_PHRASES:
        if phrase in text:
            return letter
    return None
