"""The Train mode of the editor (being built: see issue 9)."""

from __future__ import annotations

import streamlit as st

from segflow.ui.editor import Editor


def render(editor: Editor) -> None:
    st.info("Train mode is not built yet.")
