"""Factory sub-commands of the `reasonembed` CLI."""
