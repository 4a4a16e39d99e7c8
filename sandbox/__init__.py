"""The local sandbox: AWS for the demo and the tests, on 127.0.0.1. Development tooling; never shipped."""
