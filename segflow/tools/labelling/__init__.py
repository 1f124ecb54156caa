"""The labelling loop without Streamlit: a YOLO-seg dataset on disk, masks from prompts, pre-labels, training jobs.

The editor's Label and Train modes (``segflow/ui/label_panel.py``,
``train_panel.py``) and the ``sink.dataset`` node are thin layers over these
modules, so each piece is tested directly.
"""
