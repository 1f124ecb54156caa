"""The editor's door on a network address: each browser session gives the token before anything is drawn.

``segflow editor`` refuses a non-loopback address without a token and hands the
token to this script in ``SEGFLOW_EDITOR_TOKEN``. A session is let in by a link
carrying ``?token=...`` (taken out of the address bar at once) or by the form
drawn here; until then the script stops before the editor exists, so no widget
and no callback of the editor is registered for that session, and there is
nothing for a forged widget event to reach. The check is the one `segflow
serve` makes (``segflow.engine.hosts.token_matches``, constant time); a wrong
token costs a second, so guessing is slow.
"""

from __future__ import annotations

import os
import time

import streamlit as st

from segflow.engine.hosts import token_matches
from segflow.ui.command import ENV_TOKEN

LET_IN = "login_ok"
WRONG_WAIT_S = 1.0


def let_in() -> bool:
    """True when this session may see the editor; otherwise draws the login form (the caller stops)."""
    token = os.environ.get(ENV_TOKEN)
    if not token or st.session_state.get(LET_IN):
        return True
    given = st.query_params.get("token")
    if given is not None:
        del st.query_params["token"]  # not left in the address bar, the history or a screenshot
        if _check(given, token):
            return True
    st.markdown("### segflow editor")
    st.caption("This editor is reachable from the network: give the token it was started with.")
    with st.form("login", border=False):
        st.text_input("Token", type="password", key="login_token")
        if st.form_submit_button("Open the editor", type="primary"):
            if _check(st.session_state.get("login_token") or "", token):
                st.session_state.pop("login_token", None)
                st.rerun()
    if st.session_state.get("login_wrong"):
        st.error("That is not the token this editor was started with.")
    return False


def _check(given: str, token: str) -> bool:
    if token_matches(given, token):
        st.session_state[LET_IN] = True
        st.session_state.pop("login_wrong", None)
        return True
    time.sleep(WRONG_WAIT_S)
    st.session_state["login_wrong"] = True
    return False
