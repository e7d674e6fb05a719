"""Code that runs inside or around a Pelican build: the build itself
(``build``), the warm re-render of a decision's pages (``warm``), production
releases (``releases``), the Pelican plugins (``pelican_plugin``,
``assets``, ``images``, which has its files made by ``imaging``) and the
Markdown extension ``typography``.

Nothing in this package imports Flask: it runs in `make html` and `make
publish`, in the publisher's child processes and inside Pelican. What it
shares with the service (``db``, ``render``, ``popularity``, ``registry``,
``config``) lives one level up and does not import Flask at module level either.
"""
