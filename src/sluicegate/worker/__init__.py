"""The agent and the consumer processes it forks: fork, consume, lock."""
