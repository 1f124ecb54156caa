"""Line numbers for the YAML tab, and "go to line" for its problems (``yaml_frontend/``).

The text area stays Streamlit's ``st.text_area`` (its value and callbacks are what
the editor and its tests use); a component with no view of its own decorates it
in the page with a gutter of line numbers, marks the line of the first problem
and moves the cursor to a line when asked: a YAML parse error at once, a
validation error when its "line N" button is pressed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

FRONTEND = Path(__file__).with_name("yaml_frontend")
GOTO = "yaml_goto"  # session key: {"line": n, "seq": k}, a new seq moves the cursor again

_component: Any = None


def go_to(line: int) -> None:
    """Move the YAML tab's cursor to ``line`` on the next render."""
    seq = int((st.session_state.get(GOTO) or {}).get("seq", 0)) + 1
    st.session_state[GOTO] = {"line": int(line), "seq": seq}


def gutter(problem_line: int | None) -> None:
    """Draw the (invisible) decorator; ``problem_line`` is marked in the gutter."""
    global _component
    if _component is None:
        import streamlit.components.v1 as components

        _component = components.declare_component("segflow_yaml_gutter", path=str(FRONTEND))
    _component(line=problem_line, goto=st.session_state.get(GOTO), key="yaml_gutter", default=None)
