"""The closed-loop simulation: the synthetic world day by day, control feed against fairshot's plan."""
