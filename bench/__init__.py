"""The project's own benchmark (``make bench``): see bench/README.md."""
