"""manage.py commands of events/ (opening or closing an event by hand, progress repair): another
interface to the same services. Empty until the events issue fills it."""
