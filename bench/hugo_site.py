"""The benchmark corpus as a Hugo site, for Hugo's server beside `make serve`.

``write_hugo_site(corpus_content, dest)`` turns the Pelican posts that
``corpus.write_corpus`` writes into Hugo content files (the same title, date,
category, tags, slug, summary and Markdown body; YAML front matter) and
gives the site a minimal theme with pages like ours: a post page, the home
page listing five posts a page, a page per category and per tag (twenty a
page), and a sidebar with the categories and their counts and the months,
rendered once per build (``partialCached``, as our sidebar is). Hugo has
no month archive pages; the URLs are ours (``/YYYY/MM/slug/``).

Stdlib only, like corpus.py.
"""

import json
from datetime import datetime
from pathlib import Path

CONFIG = """\
baseURL = "http://127.0.0.1/"
title = "Career Notes (Hugo)"
languageCode = "en"
paginate = 5
disableKinds = ["RSS"]

[permalinks]
  posts = "/:year/:month/:slug/"

[taxonomies]
  category = "categories"
  tag = "tags"

[markup.goldmark.renderer]
  unsafe = true
"""

LAYOUTS = {
    "_default/baseof.html": """\
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{ block "title" . }}{{ .Site.Title }}{{ end }}</title></head>
<body>
<header><p><a href="/">{{ .Site.Title }}</a></p></header>
<div class="layout">
<main id="main">{{ block "main" . }}{{ end }}</main>
{{ partialCached "sidebar.html" . }}
</div>
</body>
</html>
""",
    "_default/single.html": """\
{{ define "title" }}{{ .Title }} · {{ .Site.Title }}{{ end }}
{{ define "main" }}
<article class="post">
  <h1>{{ .Title }}</h1>
  <p class="meta"><time>{{ .Date.Format "January 2, 2006" }}</time>
  {{ range .Params.categories }}
  · <a href="{{ "categories/" | relURL }}{{ . | urlize }}/">{{ . }}</a>
  {{ end }}</p>
  <ul class="tags">{{ range .Params.tags }}
    <li><a href="{{ "tags/" | relURL }}{{ . | urlize }}/">#{{ . }}</a></li>
  {{ end }}</ul>
  <div class="body">{{ .Content }}</div>
</article>
{{ end }}
""",
    "_default/list.html": """\
{{ define "main" }}
<h1 class="page-title">{{ .Title }}</h1>
{{ $paginator := .Paginate .Pages 20 }}
{{ partial "post_list.html" $paginator.Pages }}
{{ partial "pagination.html" $paginator }}
{{ end }}
""",
    "index.html": """\
{{ define "main" }}
<h1 class="page-title">Latest posts</h1>
{{ $paginator := .Paginate (partialCached "posts.html" .) }}
{{ partial "post_list.html" $paginator.Pages }}
{{ partial "pagination.html" $paginator }}
{{ end }}
""",
    "partials/post_list.html": """\
<ul class="post-list">
{{ range . }}
<li class="card"><h2><a href="{{ .RelPermalink }}">{{ .Title }}</a></h2>
<p class="meta"><time>{{ .Date.Format "January 2, 2006" }}</time></p>
<div class="summary">{{ .Summary }}</div></li>
{{ end }}
</ul>
""",
    "partials/pagination.html": """\
{{ if gt .TotalPages 1 }}<nav class="pagination">
{{ if .HasPrev }}<a rel="prev" href="{{ .Prev.URL }}">Newer posts</a>{{ end }}
<span>Page {{ .PageNumber }} of {{ .TotalPages }}</span>
{{ if .HasNext }}<a rel="next" href="{{ .Next.URL }}">Older posts</a>{{ end }}
</nav>{{ end }}
""",
    # Every post, filtered once per build (each page of the home page asks).
    "partials/posts.html": """\
{{ return where site.RegularPages "Section" "posts" }}
""",
    "partials/sidebar.html": """\
<aside class="sidebar">
<h2>Categories</h2>
<ul>{{ range .Site.Taxonomies.categories.ByCount }}
  <li><a href="{{ .Page.RelPermalink }}">{{ .Page.Title }}</a> ({{ .Count }})</li>
{{ end }}</ul>
<h2>Archives</h2>
<ul>{{ range (partialCached "posts.html" .).GroupByDate "January 2006" }}
  <li>{{ .Key }}</li>
{{ end }}</ul>
</aside>
""",
}


def read_post(path):
    """(header dict with lowercase keys, Markdown body) of a Pelican post."""
    text = Path(path).read_text(encoding="utf-8")
    head, _, body = text.partition("\n\n")
    header = {}
    for line in head.splitlines():
        key, _, value = line.partition(":")
        header[key.strip().lower()] = value.strip()
    return header, body


def hugo_post(header, body):
    """The same post as a Hugo content file (YAML front matter: JSON values are YAML)."""
    date = datetime.strptime(header["date"], "%Y-%m-%d %H:%M")
    front = {
        "title": header["title"],
        "date": date.strftime("%Y-%m-%dT%H:%M:00Z"),
        "categories": [header["category"]],
        "tags": [t.strip() for t in header.get("tags", "").split(",") if t.strip()],
        "slug": header["slug"],
        "summary": header.get("summary", ""),
    }
    lines = [f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in front.items()]
    return "---\n" + "\n".join(lines) + "\n---\n\n" + body


def write_hugo_site(corpus_content, dest):
    """Write the Hugo site of a corpus into ``dest``; return {slug: content file}."""
    dest = Path(dest)
    (dest / "content" / "posts").mkdir(parents=True, exist_ok=True)
    (dest / "config.toml").write_text(CONFIG, encoding="utf-8")
    for name, text in LAYOUTS.items():
        path = dest / "layouts" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    files = {}
    for source in sorted(Path(corpus_content, "posts").glob("*.md")):
        header, body = read_post(source)
        target = dest / "content" / "posts" / source.name
        target.write_text(hugo_post(header, body), encoding="utf-8")
        files[header["slug"]] = target
    about_header, about_body = read_post(Path(corpus_content, "pages", "about.md"))
    (dest / "content" / "about.md").write_text(
        f"---\ntitle: {json.dumps(about_header['title'])}\n---\n\n{about_body}", encoding="utf-8"
    )
    return files
