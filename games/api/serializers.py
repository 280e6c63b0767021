"""Input and output serializers of games/'s API; no create()/update() logic. Empty until the games
issue fills it."""
