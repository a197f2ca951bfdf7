"""A sans-IO IKEv1 phase-1 negotiator (RFC 2407/2408/2409) with a thin asyncio shell."""
