"""manage.py commands of games/ (RTP reports, round verification): another interface to the same
services. Empty until the games issue fills it."""
