"""Pelican plugin: comments and their counts, Popular Posts, the post registry.

What it adds to the build:

* ``article.comments`` / ``article.comment_count`` on every post, and
  ``article.comments_open`` (False when the post says ``Comments: closed``);
* ``popular_posts`` in every template's context, from ``popularity.rank_popular``;
* ``post-registry.json`` in the output: the posts the comment service accepts
  comments for, with their titles. The service trusts this file, never a URL
  sent by a reader.

Settings (all optional), in one dict::

    COMMENTS = {"REGISTRY_FILE": "post-registry.json"}
    POPULAR_POSTS_COUNT = 5
"""

import json
import os

from pelican import signals

from comments_service.popularity import rank_popular

DEFAULTS = {"REGISTRY_FILE": "post-registry.json"}


def settings_of(pelican_settings):
    return {**DEFAULTS, **pelican_settings.get("COMMENTS", {})}


def comments_are_open(article):
    return str(article.metadata.get("comments", "open")).strip().lower() != "closed"


def attach_comments_and_rank(generator):
    """Give each post its comments and the site its Popular Posts."""
    for article in generator.articles:
        article.comments = []
        article.comment_count = 0
        article.comments_open = comments_are_open(article)
    generator.context["popular_posts"] = rank_popular(
        generator.articles, limit=generator.settings.get("POPULAR_POSTS_COUNT", 5)
    )
    write_registry(generator.articles, generator.settings)


def write_registry(articles, settings):
    """Write the list of published posts the comment service accepts comments for."""
    registry = {
        "posts": [
            {
                "slug": article.slug,
                "url": "/" + article.url,
                "title": article.title,
                "comments_open": article.comments_open,
            }
            for article in articles
        ]
    }
    path = os.path.join(settings["OUTPUT_PATH"], settings_of(settings)["REGISTRY_FILE"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(registry, f, indent=1, ensure_ascii=False)


def register():
    # Posts are read and sorted but nothing is written yet: every page's
    # sidebar (Popular Posts) and every listing (comment counts) needs this data.
    signals.article_generator_finalized.connect(attach_comments_and_rank)
