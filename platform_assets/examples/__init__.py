"""The embedded-default demo: its platform.yaml and the sample-data generator (shipped inside the package)."""
