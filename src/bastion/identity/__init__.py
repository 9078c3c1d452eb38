"""Who may call: virtual keys, the users and teams they belong to, kept in memory and refreshed."""
