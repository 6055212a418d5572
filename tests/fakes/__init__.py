"""Local fake servers that speak the real wire protocols of outside services."""
