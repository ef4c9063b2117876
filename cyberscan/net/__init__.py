"""Network plumbing shared by collectors: the engine's resolver, the scope guard, the HTTP client."""
