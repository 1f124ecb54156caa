"""The visual editor: the only package that imports Streamlit (engine and nodes never import ui)."""
