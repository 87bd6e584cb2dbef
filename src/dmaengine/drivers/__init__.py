"""Controller drivers shipped with dmaengine. Each uses only the public provider API."""
