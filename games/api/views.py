"""Thin DRF views of games/: validate an input serializer, call one service or selector, return an
output serializer. Empty until the games issue fills it."""
