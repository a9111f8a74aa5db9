"""Integration with Försäkringskassan: contract schemas, the port and its HTTP transport,
the simulator, and the certificate -> case lookup (see README.md)."""
