"""Live events and daily/weekly missions."""
