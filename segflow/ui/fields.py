"""Widgets whose value the app sets as well as the user: a path after Open, a flag reset after Save.

Writing a value under a widget's key in session state reaches the page once: the
run that draws the widget next sends it (Streamlit's ``set_value``). Every rerun
begins by folding what the script wrote into the state the server keeps, so when
another rerun interrupts that run first (a click just after an edit), the page
never hears of the value: it shows the widget's declared default and sends it
back with its next event, over the value the app set. That lost the Deploy
dialog's server URL on CI, and the YAML field's text (an empty document).

So these widgets are drawn under a key that carries a generation, with the kept
value as their declared default, which every run sends. The app changes a value
with :func:`keep`, which moves the generation on: the widget is drawn afresh.
What the user types lives under the current key until then (:func:`value`).
"""

from __future__ import annotations

from typing import Any

import streamlit as st


def _generation(name: str) -> int:
    return int(st.session_state.get(f"{name}#generation", 0))


def key(name: str) -> str:
    """The widget key to draw ``name`` under now."""
    return f"{name}#{_generation(name)}"


def kept(name: str, default: Any = None) -> Any:
    """The value the app last kept for ``name`` (the widget's default), or ``default`` before any."""
    return st.session_state.get(f"{name}#kept", default)


def value(name: str, default: Any = None) -> Any:
    """What the widget holds now: the user's entry when there is one, else the kept value."""
    current = key(name)
    return st.session_state[current] if current in st.session_state else kept(name, default)


def index(name: str, options: list[Any]) -> int:
    """A selectbox's declared default: where the kept value sits among ``options``, else the first."""
    current = kept(name)
    return options.index(current) if current in options else 0


def keep(name: str, new: Any) -> None:
    """Set ``name`` from the app: the widget is drawn afresh with ``new`` as its default."""
    st.session_state[f"{name}#kept"] = new
    st.session_state[f"{name}#generation"] = _generation(name) + 1
