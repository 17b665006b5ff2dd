"""The benchmark harness (`make bench`): the full build, the daily build, point-in-time
features three ways."""
