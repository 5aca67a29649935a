"""Things people would rather look at than read: videos, notebook animations, plots."""

from __future__ import annotations

# --- video ---

# --- plots ---
