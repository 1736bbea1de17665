"""Code systems, code tables and terminology look-ups."""
