"""Ferry's notifier: tells subscribers, over WebSocket and SSE, how far each of their files has come."""
