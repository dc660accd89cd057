"""What the bot serves about itself over HTTP: metrics, health, the status page and its API."""
