"""TextChoices of events/: event and mission states, mission periods (daily/weekly), progress
metrics. Empty until the events issue fills it."""
