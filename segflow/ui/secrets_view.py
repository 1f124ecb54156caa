"""Secrets in a workflow shown as ``***`` on the editor's page, and put back when an edit keeps them.

Every line segflow writes masks URL passwords and tokens (``segflow.engine.masking``);
the page is one more reader, and on a network address not always the author. So
the YAML tab and the param fields show a camera's ``rtsp://op:***@cam/1``, and a
``password:``, ``token:``, ``secret:``, ``api_key:`` or ``authorization:`` value
as ``***`` (a ``${VAR}`` reference is no secret and stays). The document itself
keeps the real values: an edit that leaves a masked part as it was shown gets the
real value back (URLs by their masked form, keyed values by key name and order);
an edit that changes a masked URL around its ``***`` leaves a ``***`` that was not
there, which :func:`lost_secret` catches, so a password never silently becomes
three stars.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from segflow.engine.masking import HIDDEN, mask, split_url

NAMES = r"(?:password|passwd|passphrase|token|secret|api_?key|authorization)"  # keys whose values are secrets
SECRET_KEY = re.compile(NAMES, re.IGNORECASE)
KEYED = re.compile(
    rf"(?P<key>[\w-]*{NAMES}[\w-]*)"
    r"(?P<sep>[ \t]*:[ \t]+)(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^\s,{}\[\]#\"'][^,{}\[\]#\n]*?)(?=[ \t]*(?:[,}\]#]|$))",
    re.IGNORECASE | re.MULTILINE,
)
# A URL in YAML: a quoted one runs to its closing quote (a password may hold spaces, commas, '@'),
# a plain one to white space, less a flow mapping's ',' '}' ']' after it.
URL = re.compile(r"(?<=')[a-zA-Z][\w+.-]*://[^'\n]*(?=')|(?<=\")[a-zA-Z][\w+.-]*://[^\"\n]*(?=\")"
                 r"|(?<!['\"\w])[a-zA-Z][\w+.-]*://\S*?(?=[,}\]]*(?:\s|$))")
HIDDEN_LEFT = re.compile(  # a masked secret as the page shows it: in a URL, or as a keyed value
    r":\*\*\*@|[?&;]\w+=\*\*\*"
    rf"|[\w-]*{NAMES}[\w-]*[ \t]*:[ \t]+"
    r"[\"']?\*\*\*[\"']?(?=[ \t]*(?:[,}\]#]|$))", re.IGNORECASE | re.MULTILINE)


REFERENCE = re.compile(r"\$\{[^}]*\}")
AUTH_SCHEME = re.compile(r"^(?:bearer|basic|token|digest)\b", re.IGNORECASE)


def _is_reference(value: str) -> bool:
    """Nothing secret is written here: empty, or only ``${VAR}`` (after an auth scheme: ``Bearer ${TOKEN}``)."""
    rest = REFERENCE.sub("", value.strip("\"'")).strip()
    return not AUTH_SCHEME.sub("", rest).strip()


def mask_text(text: str) -> str:
    """``text`` (YAML, or one field's value) with URL passwords and keyed secrets as ``***``."""
    text = KEYED.sub(lambda m: m.group(0) if _is_reference(m["value"]) else f"{m['key']}{m['sep']}{HIDDEN}", text)
    return URL.sub(lambda m: _masked_url(m.group(0)), text)


def _masked_url(url: str) -> str:
    """One whole URL masked: its userinfo split at the last '@' (a password may hold spaces), then its query."""
    return mask(split_url(url).masked())


def unmask_text(edited: str, original: str) -> str:
    """``edited`` with each ``***`` that stands for one of ``original``'s secrets given its real value back."""
    values: dict[str, list[str]] = defaultdict(list)
    for m in KEYED.finditer(original):
        if not _is_reference(m["value"]):
            values[m["key"].lower()].append(m["value"])
    used: dict[str, int] = defaultdict(int)

    def keyed(m: re.Match[str]) -> str:
        key = m["key"].lower()
        if m["value"].strip("\"'") != HIDDEN or used[key] >= len(values[key]):
            return m.group(0)
        used[key] += 1
        return f"{m['key']}{m['sep']}{values[key][used[key] - 1]}"

    restored = KEYED.sub(keyed, edited)
    for url in sorted(set(URL.findall(original)), key=len, reverse=True):
        shown = _masked_url(url)
        if shown != url:
            restored = restored.replace(shown, url)
    return restored


def lost_secret(text: str, original: str) -> bool:
    """Whether ``text`` holds a masked secret (``:***@``, ``?token=***``, ``password: ***``) ``original`` did not."""
    return len(HIDDEN_LEFT.findall(text)) > len(HIDDEN_LEFT.findall(original))


def mask_value(key: str, value: Any) -> Any:
    """A param's value as a form shows it: a secret-named string as ``***``, URLs masked, inside lists and maps."""
    if isinstance(value, str):
        return HIDDEN if SECRET_KEY.search(key) and not _is_reference(value) else mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(key, v) for v in value]
    return value


def restore_entry(entered: Any, shown: Any, original: Any) -> Any:
    """What a form field really holds: the original where the masked text came back, else the entry unmasked."""
    if entered == shown:
        return original
    if isinstance(entered, str) and isinstance(original, str):
        return unmask_text(entered, original)
    return entered
