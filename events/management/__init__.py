"""manage.py commands of events/ live in commands/."""
