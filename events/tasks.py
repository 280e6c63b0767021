"""Celery entry points of events/ (opening and closing events on schedule, resetting daily/weekly
missions): ids in, call a service, nothing else. Empty until the events issue fills it."""
