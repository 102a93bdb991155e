"""One module per role's subcommand group (``paperchain <group> <verb>``)."""
