"""Comments that cost Python-Markdown the most, each as long as the form allows.

One table for the render-cost tests (tests/test_render_bounds.py) and the
benchmark's goal 5 (bench/run.py, which times them): inputs that were
quadratic or overflowed the stack in Python-Markdown before render.py bounded
them, and its slowest linear ones.
"""

from comments_service.forms import BODY_MAX


def fill(unit, size=BODY_MAX):
    """``unit`` repeated to ``size`` characters: a comment as long as the form allows."""
    return (unit * (size // len(unit) + 1))[:size]


# Inputs that were quadratic (or overflowed the stack) in Python-Markdown, or
# are its slowest linear ones, each filling the form.
ADVERSARIAL = [
    "[",
    "[a][",
    "1. ",
    "+ ",
    "*    ",
    "- \t  ",
    "*a",
    "_a",
    "`",
    "``a",
    "\\``    1) ",
    "\\<a href='https://x.example'>]( \\\\](- \\``",  # found by hypothesis
    "[`",
    "`[",
    ">",
    "> ",
    "> - ",
    "<",
    "&",
    "&amp;",
    "](",
    "[](",
    "[a](",
    "[a](<",
    "*",
    "**a",
    "***a",
    "*_",
    "*[",
    "\\",
    "\\[",
    "a\n=\n",
    "a\n#\n",
    "---\n",
    "[a]\n[a]: b\n",
    "- a\n",
    "1. a\n",
    "a  \n",
    # The most blocks: paragraphs, quotes and loose list items.
    "a\n\n",
    "> a\n\n",
    "- a\n\n",
]

# Nesting of emphasis, links and code within one another.
NESTED = [
    fill("*a _b **c [d `e"),
    ("*" * 800 + "a" + "*" * 800 + "[" * 800 + "b" + "]" * 800)[:BODY_MAX],
    fill("[" * 50 + "]" * 50 + "("),
    fill("> " * 8 + "* " + "[*`_" * 10 + "\n"),
]
