"""Rank posts for the "Popular Posts" sidebar.

One ranking function for the whole site, fed by whatever reader signals exist:

    score = views in the last 30 days + 5 x approved comments

A comment is worth five views because writing one takes far more interest than
opening a page. Equal scores (always the case before there is any data) fall
back to posts the author marked ``Featured: yes``, then to the newest.
"""

import heapq

COMMENT_WEIGHT = 5


def popularity_score(slug, comment_counts, view_counts):
    """Return the score of one post from its counts (missing counts are zero)."""
    return view_counts.get(slug, 0) + COMMENT_WEIGHT * comment_counts.get(slug, 0)


def is_featured(post):
    return str(getattr(post, "featured", "")).strip().lower() in {"yes", "true", "1"}


def rank_popular(posts, *, comment_counts=None, view_counts=None, limit=5):
    """Return the ``limit`` most popular posts, best first.

    ``posts`` need ``slug`` and ``date`` attributes (Pelican articles do);
    ``comment_counts`` and ``view_counts`` map slug -> count.
    """
    comment_counts = comment_counts or {}
    view_counts = view_counts or {}

    def sort_key(post):
        score = popularity_score(post.slug, comment_counts, view_counts)
        return (score, is_featured(post), post.date)

    # Same result as sorted(..., reverse=True)[:limit], in linear time.
    return heapq.nlargest(limit, posts, key=sort_key)
