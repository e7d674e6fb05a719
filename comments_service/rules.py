"""The admin's intake rules: what they match, and what becomes of a new comment.

A rule (stored by ``db.add_rule``, made on /admin/rules or from a queued
comment) has a kind, a pattern and an outcome (``moderation.RULE_KINDS``,
``moderation.RULE_OUTCOMES``):

* a word or phrase, matched as whole words whatever the case or the Unicode
  form (NFKC, then case-folded: "ＶＩＡＧＲＡ" and "Viagra" are "viagra"), in
  the name, email, website and text; "ass" does not match "class";
* a link domain, matched by that domain and its subdomains, in every link
  of the text (``http(s)://`` and bare ``www.`` ones, those
  ``render.count_links`` counts) and in the website;
* a sender's address: the keyed hash ``db.hash_ip`` stores, matched exactly
  (no address is ever stored or shown).

The built-in checks (2 or more links, an email address or a phone number in
the text) hold a comment too. ``judge`` collects every finding; the
strongest outcome wins (``RULE_OUTCOMES`` is in that order: spam before
hold) and the reason names each finding of that outcome:
"held: 2 links, word 'crypto' (rule 4)". Adding an outcome (a later
"approve" for commenters approved before) is one more ``RuleOutcome`` and
one more source of findings in ``judge``.

Cost, whatever the input and the number of rules: each field is folded and
cut into words by one regex pass, then looked up in sets: a word directly,
a phrase only where its first word is, once per phrase length in use (at
most PHRASE_WORDS_MAX); a link's host by each of its suffixes; the address
once. Nothing runs once per rule. The compiled rules are kept per process
and database, and rebuilt when ``db.rules_stamp`` changes, which every
change of the rules does, made by any process (gunicorn runs several).
"""

import re
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

from comments_service import db
from comments_service.moderation import (
    ADDRESS_RULE,
    DOMAIN_RULE,
    HOLD,
    RULE_OUTCOMES,
    WORD_RULE,
)
from comments_service.render import link_urls

PATTERN_MAX = 100
NOTE_MAX = 200
# Bounds the look-ups per word of a comment (see the module docstring).
PHRASE_WORDS_MAX = 5
# The reason names at most this many findings (then "and 3 more").
FINDINGS_NAMED_MAX = 5
# A DNS name is at most 253 characters: a longer "host" is nobody's link.
HOST_MAX = 253

_WORD = re.compile(r"\w+")
# A word pattern: words, joined by spaces, hyphens or apostrophes (both sides
# are cut into words the same way, so "e-mail" matches "e mail" and "e-mail").
_WORD_PATTERN = re.compile(r"\w+(?:[\s'’-]+\w+)*")
# Where a link's host ends: Markdown leaves ")" or "]" on the URLs it wraps.
_HOST = re.compile(r"[\w.-]+")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"(?<!\w)\+?\d[\d ().-]{7,}\d(?!\w)")


def fold(text):
    """Text as the rules compare it: NFKC, case-folded, without soft hyphens."""
    return unicodedata.normalize("NFKC", text).casefold().replace("\u00ad", "")


def words_of(text):
    """The words of ``text``, folded: what word rules are matched against."""
    return _WORD.findall(fold(text))


# --- patterns -----------------------------------------------------------


def normalise_pattern(kind, typed):
    """The stored form of a word or domain pattern the admin typed.

    Raises ``ValueError`` with a sentence for the admin when it cannot be a
    rule. Address rules are made from a queued comment, never typed."""
    text = " ".join(typed.split())
    if not text:
        raise ValueError("Enter a word, a phrase or a domain.")
    if len(text) > PATTERN_MAX:
        raise ValueError(f"A pattern is at most {PATTERN_MAX} characters.")
    if kind == WORD_RULE:
        pattern = _word_pattern(text)
    elif kind == DOMAIN_RULE:
        pattern = _domain_pattern(text)
    else:
        raise ValueError("Choose a word or phrase, or a link domain.")
    if len(pattern) > PATTERN_MAX:  # NFKC can lengthen text ("㍿" is 4 characters)
        raise ValueError(f"A pattern is at most {PATTERN_MAX} characters.")
    return pattern


def _word_pattern(text):
    folded = fold(text)
    if not _WORD_PATTERN.fullmatch(folded):
        raise ValueError(
            "Letters and digits only, words separated by spaces, hyphens or apostrophes: "
            "rules match whole words, and signs such as $ or + are not part of one."
        )
    if len(_WORD.findall(folded)) > PHRASE_WORDS_MAX:
        raise ValueError(f"A phrase is at most {PHRASE_WORDS_MAX} words.")
    # Stored as typed, folded: "pay-day" reads as the admin wrote it, and
    # matches what its words match ("pay day", "Pay-Day").
    return folded


def _domain_pattern(text):
    folded = fold(text)
    if "://" not in folded:
        # "*.example.com" and ".example.com" say what every domain rule does.
        folded = "http://" + folded.removeprefix("*").lstrip(".")
    try:
        host = urlsplit(folded).hostname or ""
    except ValueError:  # not a URL at all (e.g. "http://[")
        host = ""
    host = canonical_host(host)
    if not host or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        raise ValueError(
            "Enter a domain such as example.com (a link to it or to any of its subdomains matches)."
        )
    return host


def canonical_host(host):
    """A host as domain rules compare it: folded, ASCII (IDNA), no trailing dot;
    '' when it cannot be a DNS name."""
    host = fold(host).rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:  # an empty or overlong label: no such host
            return ""
    return host if len(host) <= HOST_MAX else ""


def readable_domain(host):
    """A stored domain as people write it ("bücher.de", not "xn--bcher-kva.de")."""
    try:
        return host.encode("ascii").decode("idna")
    except UnicodeError:  # not a valid IDNA name: show it as stored
        return host


def link_hosts(urls):
    """The hosts of ``urls`` (``render.link_urls``, a website), each once."""
    hosts = set()
    for url in urls:
        if url[:4].lower() == "www.":
            url = "http://" + url
        try:
            netloc_host = urlsplit(url).hostname
        except ValueError:  # e.g. an unclosed "[" in the host: no link to anywhere
            continue
        found = _HOST.match(netloc_host or "")
        host = canonical_host(found.group()) if found else ""
        if host:
            hosts.add(host)
    return hosts


# --- matching -----------------------------------------------------------


class Ruleset:
    """The rules of one moment, arranged for look-ups (see the module docstring)."""

    def __init__(self, rows):
        self.rules = list(rows)
        self.words = {}  # one word -> rule
        self.phrases = {}  # tuple of words -> rule
        self.domains = {}  # canonical host -> rule
        self.addresses = {}  # sender's hash -> rule
        for rule in self.rules:
            if rule["kind"] == WORD_RULE:
                words = tuple(words_of(rule["pattern"]))
                if (
                    not words
                ):  # no pattern typed on the page is; one stored otherwise matches nothing
                    continue
                if len(words) == 1:
                    self.words[words[0]] = rule
                else:
                    self.phrases[words] = rule
            elif rule["kind"] == DOMAIN_RULE:
                self.domains[rule["pattern"]] = rule
            elif rule["kind"] == ADDRESS_RULE:
                self.addresses[rule["pattern"]] = rule
        self.phrase_starts = {words[0] for words in self.phrases}
        self.phrase_lengths = sorted({len(words) for words in self.phrases})

    def matches(self, *, author_name, email, website, body, ip_hash, urls=None):
        """The rules a comment matches, each once, oldest rule first.

        ``urls``: the links of ``body`` (``render.link_urls``), if the caller has them."""
        found = {}
        if ip_hash and ip_hash in self.addresses:
            rule = self.addresses[ip_hash]
            found[rule["id"]] = rule
        if self.words or self.phrases:
            for text in (author_name, email, website, body):
                for rule in self._word_rules(words_of(text or "")):
                    found[rule["id"]] = rule
        if self.domains:
            urls = link_urls(body) if urls is None else urls
            for host in link_hosts([*urls, website] if website else urls):
                for rule in self._domain_rules(host):
                    found[rule["id"]] = rule
        return [found[rule_id] for rule_id in sorted(found)]

    def _word_rules(self, words):
        if self.words:
            for word in self.words.keys() & set(words):
                yield self.words[word]
        if self.phrases:
            count = len(words)
            for start, word in enumerate(words):
                if word not in self.phrase_starts:
                    continue
                for length in self.phrase_lengths:
                    if start + length > count:
                        break
                    rule = self.phrases.get(tuple(words[start : start + length]))
                    if rule:
                        yield rule

    def _domain_rules(self, host):
        # The host, then each domain it is a subdomain of: a.b.example.com,
        # b.example.com, example.com, com.
        while True:
            if host in self.domains:
                yield self.domains[host]
            dot = host.find(".")
            if dot < 0:
                return
            host = host[dot + 1 :]

    def address_rule(self, ip_hash):
        """The rule on this sender's address, or None."""
        return self.addresses.get(ip_hash) if ip_hash else None


def _word_or_phrase(pattern):
    # A stored word pattern is words and separators (``_word_pattern``); as
    # in ``\w``, a word character is alphanumeric or "_".
    one_word = all(c.isalnum() or c == "_" for c in pattern)
    return "word" if one_word else "phrase"


def shown_pattern(rule):
    """A rule's pattern as the rules page shows it (never a sender's hash)."""
    if rule["kind"] == WORD_RULE:
        return rule["pattern"]
    if rule["kind"] == DOMAIN_RULE:
        return readable_domain(rule["pattern"])
    return "a sender's address"


def describe(rule):
    """What a reason says of a rule: "word 'casino' (rule 12)"."""
    pattern, number = rule["pattern"], f"(rule {rule['id']})"
    if rule["kind"] == WORD_RULE:
        return f"{_word_or_phrase(pattern)} '{pattern}' {number}"
    if rule["kind"] == DOMAIN_RULE:
        return f"link to {readable_domain(pattern)} {number}"
    return f"sender's address {number}"


def sentence(rule):
    """What a rule does, for the admin: "comments with the word 'casino' are held for review"."""
    pattern = rule["pattern"]
    if rule["kind"] == WORD_RULE:
        subject = f"comments with the {_word_or_phrase(pattern)} '{pattern}'"
    elif rule["kind"] == DOMAIN_RULE:
        subject = f"comments linking to {readable_domain(pattern)}"
    else:
        subject = "comments from this sender"
    outcome = RULE_OUTCOMES.get(rule["outcome"])
    return f"{subject} {outcome.effect if outcome else 'are not changed'}"


_cache = OrderedDict()  # database file -> (rules_stamp, Ruleset)
_cache_lock = threading.Lock()
CACHED_DATABASES = 8  # tests open many databases; a server has one


def current(database):
    """The rules of ``database`` as they are now, compiled once per change."""
    key = db.path_of(database)
    # The stamp first, then the rules: a change between the two reads is
    # compiled now and compiled again at the next comment, never missed.
    stamp = db.rules_stamp(database)
    with _cache_lock:
        cached = _cache.get(key)
        if cached and cached[0] == stamp:
            _cache.move_to_end(key)
            return cached[1]
    ruleset = Ruleset(db.all_rules(database))
    with _cache_lock:
        _cache[key] = (stamp, ruleset)
        _cache.move_to_end(key)
        while len(_cache) > CACHED_DATABASES:
            _cache.popitem(last=False)
    return ruleset


# --- the verdict ----------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    outcome: str  # a key of ``moderation.RULE_OUTCOMES``
    text: str  # for the reason: "2 links", "word 'casino' (rule 12)"


def built_in_findings(body, links):
    """The checks every comment gets, whatever the rules: each holds it."""
    held = []
    if links >= 2:
        held.append(f"{links} links")
    if _EMAIL.search(body):
        held.append("contains an email address")
    if _PHONE.search(body):
        held.append("contains a phone number")
    return [Finding(HOLD, text) for text in held]


def verdict(findings):
    """(status, reason) from the findings: the strongest outcome wins; no
    finding: ("pending", None), an ordinary comment waiting for the admin."""
    for outcome in RULE_OUTCOMES.values():
        texts = [finding.text for finding in findings if finding.outcome == outcome.name]
        if texts:
            named = texts[:FINDINGS_NAMED_MAX]
            if len(texts) > len(named):
                named.append(f"and {len(texts) - len(named)} more")
            return outcome.status, f"{outcome.prefix}: {', '.join(named)}"
    return "pending", None


def judge(ruleset, *, author_name, email, website, body, ip_hash):
    """(status, reason) a new comment is stored with: the built-in checks and the rules."""
    urls = link_urls(body)
    findings = built_in_findings(body, len(urls))
    matched = ruleset.matches(
        author_name=author_name, email=email, website=website, body=body, ip_hash=ip_hash, urls=urls
    )
    findings += [Finding(rule["outcome"], describe(rule)) for rule in matched]
    return verdict(findings)
