"""The player API of games/: serializers.py, views.py, urls.py (mounted in casino/urls.py once it
has endpoints). Empty until the games issue fills it."""
