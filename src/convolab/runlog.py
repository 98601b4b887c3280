"""Moved to ``convolab.train.runfolder``; this path stays for the modules outside training that use it."""

from convolab.train.runfolder import CONFIG_FILE, LOG_FILE, SUMMARY_FILE, RunLog, read_log

__all__ = ["CONFIG_FILE", "LOG_FILE", "SUMMARY_FILE", "RunLog", "read_log"]
