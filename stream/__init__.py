"""Live sessions: websocket rooms, host commands, flash sales, lucky bags, fan-out."""
