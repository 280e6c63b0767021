"""Domain refusals of events/, each a subclass of casino.errors.ApplicationError with a stable
snake_case code and its 4xx status: refusals such as an event not open yet, a mission not
complete, a reward already claimed. Empty until the events issue fills it."""
