"""platform_assets: files in object storage to versioned, milestoned data products."""

__version__ = "0.1.0"
