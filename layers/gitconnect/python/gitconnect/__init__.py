"""gitconnect: the Git integration layer of a deployment platform (shared by every Lambda through a layer)."""
