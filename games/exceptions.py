"""Domain refusals of games/, each a subclass of casino.errors.ApplicationError with a stable
snake_case code and its 4xx status: refusals such as a bet over the table limit or a round that
is already settled. Empty until the games issue fills it."""
