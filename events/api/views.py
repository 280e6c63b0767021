"""Thin DRF views of events/: validate an input serializer, call one service or selector, return an
output serializer. Empty until the events issue fills it."""
