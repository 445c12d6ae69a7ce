"""DashboardFunction: the team dashboard's static page and assets (HTML, CSS, JS modules) from the layer."""

from gitconnect.api.dashboard import handler

__all__ = ["handler"]
