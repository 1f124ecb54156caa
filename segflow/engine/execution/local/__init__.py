"""The ``local`` executor: the plan's stages as supervised threads in this process."""
