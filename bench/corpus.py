"""Deterministic synthetic content for the benchmarks (no external data).

``write_corpus(dest_dir, n_posts, seed=1)`` writes a Pelican content tree::

    dest_dir/posts/<slug>.md   n_posts posts, ~700 words each
    dest_dir/pages/about.md

Every post has Title, Date (spread over five years), Category (one of 8),
Tags, Slug and Summary metadata; its body has 6-9 paragraphs, one ``##``
heading, one bulleted list and one Markdown link. Words come from the fixed
vocabulary below, drawn with a seeded ``random.Random``, so the same arguments
always give byte-identical files.

``write_comments(db_path, slugs, seed=1)`` gives a fifth of the posts 1-4
approved comments, through ``comments_service.db`` (no SQL here).
"""

import random
import re
from datetime import datetime, timedelta
from pathlib import Path

CATEGORIES = [
    "Job Search",
    "Interviews",
    "Networking",
    "Negotiation",
    "Career Change",
    "Leadership",
    "Productivity",
    "Learning",
]

TAGS = [
    "resume", "cover letter", "portfolio", "linkedin", "mentors", "feedback",
    "salary", "offers", "remote work", "promotion", "first job", "burnout",
    "habits", "writing", "public speaking", "side projects", "recruiters",
    "references", "onboarding", "managers", "teams", "meetings", "goals",
    "reviews", "skills", "courses", "certifications", "freelancing",
    "interview prep", "follow-up", "introverts", "confidence", "time management",
    "career gaps", "internships", "volunteering", "relocation", "benefits",
    "job boards", "informational interviews",
]  # fmt: skip

# A fixed vocabulary: common English plus the blog's subject matter.
_VOCABULARY = """
a about above account across action advice after again ahead aim all almost
alone along already also always ambition among analysis and another answer any
anyone apply approach area around ask asking attention available average away
back balance base be because become before begin behind believe benefit best
better between beyond big board both brief bring budget build busy but call
calm can candidate care career careful case certain chance change check choice
choose clear client close coach colleague come common company compare
confidence connect consider contact context continue contract control
conversation could course cover create credit culture current daily deadline
decide decision deliver department describe design detail develop difference
difficult direct discuss do document during each early easy effort email
employer end energy enough even event every evidence example expect experience
explain fair feedback feel few field final find first focus follow for format
forward friend from future gain get give goal good great group grow habit hard
have help helpful hiring honest hour idea impact important improve include
industry interest interview into introduce invite job join just keep kind know
lead learn least leave less letter level like list listen little long look
make manager many market matter maybe meet meeting mentor message method might
mind minute moment month more most move much must need network never new next
note notice offer often one only open opportunity option order other our
outcome own part past people perhaps person plan point portfolio position
practice prepare present pressure priority problem process project promise
proof question quick quiet rather reach read ready real reason recent
recruiter reference reflect relationship remember remote reply report request
research resume result review right risk role routine salary say schedule
search second see seem senior set share short should show simple since skill
slow small so some someone something soon speak specific start step still
story strength structure support sure system take talk task team tell than
thank that the their them then there these thing think this those thought
through time today together tomorrow tool toward track trust try understand
until update use useful usually value very view wait want way week well what
when where whether which while who why will with without word work write year
yet you your
"""
WORDS = _VOCABULARY.split()

LINK_TARGETS = [
    "https://example.org/guides/{w}",
    "https://example.com/notes/{w}",
    "/archives/",
]


def _slugify(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _words(rng, n):
    return [rng.choice(WORDS) for _ in range(n)]


def _sentence(rng, n_words):
    words = _words(rng, n_words)
    return " ".join(words).capitalize() + "."


def _paragraph(rng, n_words):
    """About n_words words, in sentences of 8-18 words."""
    sentences, left = [], n_words
    while left > 0:
        size = min(left, rng.randint(8, 18))
        if left - size < 5:  # no tiny trailing sentence
            size = left
        sentences.append(_sentence(rng, size))
        left -= size
    return " ".join(sentences)


def _title(rng):
    return " ".join(w.capitalize() for w in _words(rng, rng.randint(4, 8)))


def _post(rng, index, start, span_seconds):
    title = _title(rng)
    slug = f"{_slugify(title)}-{index}"
    date = start + timedelta(seconds=rng.randrange(span_seconds))
    category = rng.choice(CATEGORIES)
    tags = rng.sample(TAGS, rng.randint(1, 4))
    summary = _sentence(rng, rng.randint(14, 24))

    # Body: ~700 words = paragraphs + a heading + a 3-5 item list.
    n_paragraphs = rng.randint(6, 9)
    heading = " ".join(_words(rng, rng.randint(2, 5))).capitalize()
    items = [
        " ".join(_words(rng, rng.randint(5, 10))).capitalize() for _ in range(rng.randint(3, 5))
    ]
    used = len(heading.split()) + sum(len(i.split()) for i in items)
    per_paragraph = max(20, (700 - used) // n_paragraphs)
    paragraphs = [_paragraph(rng, per_paragraph + rng.randint(-8, 8)) for _ in range(n_paragraphs)]
    # One Markdown link inside one paragraph.
    target = rng.choice(LINK_TARGETS).format(w=rng.choice(WORDS))
    link_words = " ".join(_words(rng, rng.randint(2, 4)))
    k = rng.randrange(n_paragraphs)
    paragraphs[k] += f" See [{link_words}]({target}) for more."

    heading_at = rng.randint(1, n_paragraphs // 2)  # heading after this many paragraphs
    list_at = rng.randint(heading_at + 1, n_paragraphs - 1)  # list after this paragraph
    blocks = []
    for i, paragraph in enumerate(paragraphs):
        if i == heading_at:
            blocks.append(f"## {heading}")
        blocks.append(paragraph)
        if i == list_at:
            blocks.append("\n".join(f"- {item}" for item in items))

    header = "\n".join(
        [
            f"Title: {title}",
            f"Date: {date:%Y-%m-%d %H:%M}",
            f"Category: {category}",
            f"Tags: {', '.join(tags)}",
            f"Slug: {slug}",
            f"Summary: {summary}",
        ]
    )
    return slug, header + "\n\n" + "\n\n".join(blocks) + "\n"


def write_corpus(dest_dir, n_posts, seed=1):
    """Write ``n_posts`` posts and an About page into ``dest_dir``; return the post slugs."""
    rng = random.Random(seed)
    dest = Path(dest_dir)
    posts_dir, pages_dir = dest / "posts", dest / "pages"
    posts_dir.mkdir(parents=True, exist_ok=True)
    pages_dir.mkdir(parents=True, exist_ok=True)
    start = datetime(2020, 1, 1)
    span_seconds = int(timedelta(days=5 * 365).total_seconds())
    slugs = []
    for index in range(1, n_posts + 1):
        slug, text = _post(rng, index, start, span_seconds)
        (posts_dir / f"{slug}.md").write_text(text, encoding="utf-8")
        slugs.append(slug)
    about = "\n".join(
        [
            "Title: About",
            "Slug: about",
            "Summary: Who writes this benchmark blog, and why.",
            "",
            _paragraph(rng, 120),
            "",
            _paragraph(rng, 90),
            "",
        ]
    )
    (pages_dir / "about.md").write_text(about, encoding="utf-8")
    return slugs


FIRST_NAMES = ["Ada", "Ben", "Chiara", "Dev", "Elif", "Femi", "Grace", "Hiro", "Ines", "Jon"]
LAST_NAMES = ["Reader", "Okoro", "Lind", "Sato", "Novak", "Costa", "Mehta", "Byrne"]


def write_comments(db_path, slugs, seed=1):
    """Give a fifth of ``slugs`` 1-4 approved comments each; return how many were written.

    Uses only ``comments_service.db``: ``add_pending_comment`` then ``set_status``,
    as a reader's submission and the admin's approval would (one transaction
    per comment, then one approval for them all).
    """
    from comments_service import db

    rng = random.Random(seed)
    chosen = rng.sample(list(slugs), len(slugs) // 5)
    conn = db.connect(db_path)
    try:
        ids = []
        for slug in chosen:
            for _ in range(rng.randint(1, 4)):
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                body = "\n\n".join(
                    _sentence(rng, rng.randint(8, 25)) for _ in range(rng.randint(1, 3))
                )
                ids.append(
                    db.add_pending_comment(
                        conn,
                        post_slug=slug,
                        author_name=f"{first} {last}",
                        email=f"{first.lower()}@example.com",
                        website=rng.choice(["", f"https://{last.lower()}.example"]),
                        body=body,
                    )
                )
        db.set_status(conn, ids, "approved", by="bench", reason="approved")
    finally:
        conn.close()
    return len(ids)


if __name__ == "__main__":  # python bench/corpus.py DEST N
    import sys

    print(len(write_corpus(sys.argv[1], int(sys.argv[2]))), "posts written to", sys.argv[1])
