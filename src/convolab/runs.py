"""Moved to ``convolab.train.runs``; this path stays for the modules outside training that use it."""

from convolab.train.runs import LoadedRun, RunData, build_model, load_run, load_run_data, model_info

__all__ = ["LoadedRun", "RunData", "build_model", "load_run", "load_run_data", "model_info"]
