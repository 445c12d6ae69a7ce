"""Use cases. Each service takes its ports as constructor arguments (wired in gitconnect.wiring)."""
