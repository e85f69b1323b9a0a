"""The study session from the rater's chair: protocol, durable per-rater state, the flow, the server."""
