"""Code that runs inside or around a Pelican build: the build itself
(``build``), the warm re-render of a decision's pages (``warm``), the live
preview of an edited post (``preview``, and its plugin hook ``signals``),
production releases (``releases``), the Pelican plugins (``checks``,
``pelican_plugin``, ``assets``, ``images``, which has its files made by
``imaging``) and the Markdown extension ``typography``.

Nothing in this package imports Flask: it runs in `make html` and `make
publish`, in the publisher's child processes and inside Pelican. What it
shares with the service (``db``, ``render``, ``popularity``, ``registry``,
``config``) lives one level up and does not import Flask at module level either.

Pelican internals this package leans on, checked against Pelican 4.12.0 (the
version pinned in pyproject.toml; read them again before upgrading):

* ``checks``: ``context["generated_content"]`` and ``context["static_content"]``
  map each source path (relative to ``PATH``) to its content object, or to
  None for a file Pelican logged an error about and skipped
  (``Generator.add_source_path`` / ``_add_failed_source_path``); a file
  linked with ``{static}`` gets a ``Static`` object even when it does not
  exist. ``Content._content`` is the HTML before links are replaced;
  ``Content._get_intrasite_link_regex``, ``get_relative_source_path`` and
  ``relative_dir`` find links as ``Content._link_replacer`` does, whose lookup
  ``checks.linked_content`` mirrors (it logs "Unable to find '%s', skipping
  url replacement." for what it cannot find, only when writing).
  ``Content.get_url_setting("url")`` reads a static file's URL without
  ``Static.url``'s side effect (it marks the location used, which stops an
  ``{attach}`` link from moving it). ``Readers.read_file`` re-reads a
  skipped file to say why. The ``StaticGenerator`` always runs last (Pelican
  appends it after every other generator), so ``static_generator_finalized``
  comes after every source is read and before anything is written.
* ``build``: ``pelican.log.LimitFilter._raised_messages`` and
  ``_group_count`` hold, per process, the warnings already shown (each is
  shown once, a kind of warning five times); they are cleared at each build.
* ``pelican_plugin``: ``ArticlesGenerator._build_period_archives`` is
  replaced by a linear-time version of the same lists; ``override_url``
  pins a post's URL.
* ``warm``: ``render_one`` is ``Writer.write_file`` without the writing, and
  ``render_pages_showing`` repeats the arguments ``ArticlesGenerator`` passes
  for each listing.
* ``preview``: ``Edit.read`` reads a post as ``ArticlesGenerator.generate_context``
  does (``Readers.read_file`` with its signals, ``is_valid``,
  ``process_translations``), and ``Edit.rederive`` repeats the end of that
  method (``_process``: ordering by translation id then ``ARTICLE_ORDER_BY``;
  categories, tags, dates, ``_build_period_archives``, ``_update_context``);
  ``Listing`` and ``Edit.post_page`` repeat the arguments ``generate_pages``
  passes; ``Edit.feeds`` repeats ``generate_feeds`` and keeps the text through
  ``Writer._open_w``; ``Content`` objects compare by identity (``list.index``);
  ``Content.get_static_links`` and ``_get_intrasite_link_regex`` find the
  files a post links.
* ``assets``: ``theme_static_files`` mirrors ``StaticGenerator.generate_output``'s
  copying of the theme's static folders.
"""
