"""The client event names every Casino Club web client may send (docs/telemetry.md
lists them; a test keeps the page and this module in step)."""

from __future__ import annotations

from realtime.telemetry.registry import TelemetrySchema, boolean, integer, number, obj, register_telemetry_event, string

GAME = string(32)  # slot, crash, rps, gacha, ... as the client names it
SCREEN = string(64)
SOURCE = string(32)  # where the player came from: home, lobby, banner, push, ...

BUILT_IN: dict[str, TelemetrySchema] = {
    "session_start": TelemetrySchema(
        {
            "entry_screen": SCREEN,
            "referrer": string(256),
            "app_version": string(32),
            "platform": string(16),
            "locale": string(16),
            "screen_width": integer(),
            "screen_height": integer(),
        },
        description="The client started (a page load, or back after a long pause).",
    ),
    "session_end": TelemetrySchema(
        {"duration_ms": integer(), "screens_viewed": integer(), "reason": string(32)},
        description="The client is closing or going to the background.",
    ),
    "screen_view": TelemetrySchema(
        {"screen": SCREEN, "previous_screen": SCREEN, "load_ms": integer()},
        description="A screen (route) was shown.",
    ),
    "button_click": TelemetrySchema(
        {"button": string(64), "screen": SCREEN, "label": string(64)},
        description="A button or link was pressed.",
    ),
    "game_open": TelemetrySchema(
        {"game": GAME, "source": SOURCE},
        description="A game screen was opened.",
    ),
    "game_close": TelemetrySchema(
        {"game": GAME, "duration_ms": integer(), "rounds_seen": integer()},
        description="A game screen was left.",
    ),
    "spin_button": TelemetrySchema(
        {
            "game": GAME,
            "bet_amount": integer(),
            "win_amount": integer(),
            "auto_spin": boolean(),
            "turbo": boolean(),
            "round_id": integer(),
        },
        description="The spin (play, bet) button was pressed; amounts are what the screen showed.",
    ),
    "shop_open": TelemetrySchema(
        {"source": SOURCE, "tab": string(32)},
        description="The shop was opened.",
    ),
    "product_view": TelemetrySchema(
        {"product_id": string(64), "position": integer(), "source": SOURCE, "price_shown": number()},
        description="A product or package card was shown or expanded.",
    ),
    "purchase_click": TelemetrySchema(
        {"product_id": string(64), "price_shown": number(), "currency": string(8)},
        description="A buy button was pressed (the order itself is the server's purchase_update).",
    ),
    "event_view": TelemetrySchema(
        {"event_id": integer(), "source": SOURCE},
        description="A live event's page was opened.",
    ),
    "mission_view": TelemetrySchema(
        {"mission_id": integer(), "period": string(16)},
        description="A mission's card was opened.",
    ),
    "notification_open": TelemetrySchema(
        {"notification_id": integer(), "kind": string(64), "channel": string(16)},
        description="A notification was opened (channel: inbox, push or toast).",
    ),
    "error_shown": TelemetrySchema(
        {"code": string(64), "message": string(256), "screen": SCREEN, "status": integer(), "context": obj()},
        description="An error message was shown to the player (code: the API's error code, if any).",
    ),
    "socket_reconnect": TelemetrySchema(
        {"attempt": integer(), "close_code": integer(), "offline_ms": integer()},
        description="The realtime socket reconnected.",
    ),
    "tutorial_step": TelemetrySchema(
        {"tutorial": string(32), "step": integer(), "completed": boolean()},
        description="A tutorial step was shown or finished.",
    ),
    "performance": TelemetrySchema(
        {"metric": string(32), "value_ms": number(), "screen": SCREEN},
        description="A timing the client measured (first paint, asset load, API latency).",
    ),
}

for _name, _schema in BUILT_IN.items():
    register_telemetry_event(_name, _schema)
