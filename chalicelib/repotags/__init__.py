"""The repo tags service: giistr's API (tags on GitHub repositories), authenticated by GitHub tokens."""
