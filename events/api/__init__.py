"""The player API of events/: serializers.py, views.py, urls.py (mounted in casino/urls.py once it
has endpoints). Empty until the events issue fills it."""
