"""Built-in collectors: each gathers one kind of facts about a target, once."""
