"""The sans-IO IKEv1 exchange engine: SA table, main and aggressive mode, informational."""
