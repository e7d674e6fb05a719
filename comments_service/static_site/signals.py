"""This package's own signal, beside Pelican's (``pelican.plugins.signals``, also blinker).

``content_reread(generator, content=..., output_dir=...)``: the live preview (``preview``)
read one post again after a build, and is about to render it with the warm
build's templates and context. A plugin that prepares each content object at
``all_generators_finalized`` (``pelican_plugin.attach_comments_and_rank``
gives posts their comments) does the same for ``content`` here, so that the
preview renders what a full build would. ``generator`` is the warm build's
``ArticlesGenerator``; nothing of the site's lists includes ``content`` yet.
``output_dir`` is the folder the preview writes (the warm build's own
``OUTPUT_PATH`` may name the staging folder it was built in): files a plugin
makes for ``content`` (its images) go there.
"""

from blinker import signal

content_reread = signal("career_notes.content_reread")
