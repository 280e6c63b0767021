"""manage.py commands of games/ live in commands/."""
