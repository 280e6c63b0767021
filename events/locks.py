"""Row-lock helpers of events/ (a player's participation and progress rows):
select_for_update(of=("self",)) in primary-key order, so two services never wait for each other
in a cycle. Empty until the events issue fills it."""
