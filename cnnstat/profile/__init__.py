"""``cnnstat profile``: where a step's time goes, module by module, forward and backward."""

from __future__ import annotations

from cnnstat.profile.engine import profile
from cnnstat.profile.records import LeafTimes, ProfileReport, ProfileRow

__all__ = ["LeafTimes", "ProfileReport", "ProfileRow", "profile"]
