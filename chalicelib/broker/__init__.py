"""The credential broker: customers, instances, connections, grants and the runtime credential fetch."""
