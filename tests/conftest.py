"""Shared test set-up: no windows, no waiting widgets, and the repository root."""
import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_HEADLESS", "1")

ROOT = Path(__file__).resolve().parents[1]
