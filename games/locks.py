"""Row-lock helpers of games/ (the player's seed row and open rounds):
select_for_update(of=("self",)) in primary-key order, so two services never wait for each other
in a cycle. Empty until the games issue fills it."""
