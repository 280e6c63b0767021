"""Writes of games/: the only code that changes its state (seed rotation, placing and settling
rounds with bets and wins moving through economy's wallet services, achievement unlocks). One
module per noun, re-exported here; functions named <noun>_<verb> with keyword-only, fully typed
arguments (user: accounts.models.User). An entry point opens transaction.atomic(durable=True);
the helpers it composes open none. State changes call realtime.emit() inside the transaction.
Empty until the games issue fills it."""
