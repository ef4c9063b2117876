"""Fleet mode: a syndicat's inventory of communes, scanned together from cron, with history and changes."""
