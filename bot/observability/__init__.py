"""What the running bot serves about itself: Prometheus metrics and a health check over HTTP."""
