"""IAM as AWS evaluates it, for the sandbox: policies, the requests calls make, and enforcement."""
