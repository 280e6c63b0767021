"""Input and output serializers of events/'s API; no create()/update() logic. Empty until the
events issue fills it."""
